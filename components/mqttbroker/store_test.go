package mqttbroker

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
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

// A state file the broker cannot read as its own (one written before the
// log format had a header, or another file) fails Start with an error that
// names it, and is left as it was: nothing is read as garbage or emptied.
func TestOldStateFileFailsStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, storeFile)
	// A set record of the headerless format: length, CRC-32 (IEEE), op,
	// key length, key, value.
	old := []byte{5, 0, 0, 0, 0x43, 0x43, 0xc7, 0x2f, opSet, 1, 'k', 'v', '1'}
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := openConfig()
	cfg.Persistence = &PersistenceConfig{Dir: dir}
	b := NewBroker(cfg, zerolog.Nop())
	err := b.Start(context.Background())
	if err == nil {
		b.Stop(context.Background())
		t.Fatal("a broker started on a state file it cannot read")
	}
	if msg := err.Error(); !strings.Contains(msg, "persistence: "+path) || !strings.Contains(msg, "move it away") {
		t.Errorf("unclear error: %s", msg)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, old) {
		t.Error("the state file was changed")
	}
}
