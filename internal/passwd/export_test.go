package passwd

// LoadForTest is the account NewAccounts makes of u.
func LoadForTest(u User) (*Account, error) {
	as, err := NewAccounts([]User{u})
	if err != nil {
		return nil, err
	}
	a, _ := as.lookup(u.Name)
	return a, nil
}
