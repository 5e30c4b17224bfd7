package mqttbroker

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStoreReplaysAndSurvivesATornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.put("a", []byte("1"))
	s.put("b", []byte("2"))
	s.put("a", []byte("3"))
	s.put("b", nil)
	s.put("c", []byte("4"))
	// Simulate a crash: copy the log as it is on disk, then append half a
	// record.
	b, err := os.ReadFile(filepath.Join(dir, storeFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	os.WriteFile(filepath.Join(crashed, storeFile), append(b, 9, 0, 0, 0, 1, 2), 0o600)
	s2, err := openStore(crashed, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got := map[string]string{}
	for _, k := range []string{"a", "b", "c"} {
		if v, ok := s2.data[k]; ok {
			got[k] = string(v)
		}
	}
	if len(got) != 2 || got["a"] != "3" || got["c"] != "4" {
		t.Fatalf("replayed %v, want a=3 c=4", got)
	}
	// Compaction on open rewrote the log without the torn tail.
	s2.put("d", []byte("5"))
	if err := s2.Flush(); err != nil {
		t.Fatal(err)
	}
	s3, err := openStore(crashed, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if string(s3.data["d"]) != "5" || len(s3.data) != 3 {
		t.Fatalf("after reopen: %v", s3.data)
	}
}
