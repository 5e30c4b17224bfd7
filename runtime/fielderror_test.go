package runtime

import (
	"errors"
	"fmt"
	"testing"
)

func TestFieldErrorsMergeAndFlatten(t *testing.T) {
	var inner FieldErrors
	inner.Add("qos", "qos %d: want 0, 1 or 2", 3)
	inner.AddKey("value_map.maybe", "%q is not a bool", "maybe")
	var es FieldErrors
	es.Add("servers[1]", "no host")
	es.Merge("publish[2]", inner.Err())
	es.Merge("tls", errors.New("cert_file and key_file go together"))
	es.Merge("subscribe", nil)
	got := AsFieldErrors(errors.Join(es.Err(), fmt.Errorf("plain")))
	want := []FieldError{
		{Path: "servers[1]", Msg: "no host"},
		{Path: "publish[2].qos", Msg: "qos 3: want 0, 1 or 2"},
		{Path: "publish[2].value_map.maybe", AtKey: true, Msg: `"maybe" is not a bool`},
		{Path: "tls", Msg: "cert_file and key_file go together"},
		{Path: "", Msg: "plain"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d errors: %v", len(got), got)
	}
	for i := range want {
		if *got[i] != want[i] {
			t.Errorf("error %d: got %+v, want %+v", i, *got[i], want[i])
		}
	}
	if s := got[1].Error(); s != "publish[2].qos: qos 3: want 0, 1 or 2" {
		t.Errorf("Error() = %q", s)
	}
	if JoinFieldPath("listeners", "[0].port") != "listeners[0].port" {
		t.Error("an index joins without a dot")
	}
	if (FieldErrors{}).Err() != nil {
		t.Error("no errors must be a nil error")
	}
}
