package scheduler

import (
	goruntime "runtime"
	"runtime/debug"
	"testing"
)

func TestParseAndFormatBytes(t *testing.T) {
	for in, want := range map[string]int64{"512MiB": 512 << 20, "1GiB": 1 << 30, "300MB": 300e6, "1048576": 1 << 20, "0": 0, " 2 GiB ": 2 << 30} {
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1MiB", "1.5GiB"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
	if FormatBytes(512<<20) != "512MiB" || FormatBytes(1<<30) != "1GiB" || FormatBytes(1000) != "1000B" {
		t.Error("FormatBytes")
	}
}

func TestControlGCSetsAndRestores(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	desc, restore := ControlGC(256 << 20)
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("GC percent %d while controlled, want -1 (off)", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 256<<20 {
		t.Fatalf("memory limit %d, want 256MiB", got)
	}
	if desc != "garbage collection when the heap nears 256MiB" {
		t.Fatalf("description %q", desc)
	}
	restore()
	if got := debug.SetGCPercent(-1); got != 100 {
		t.Fatalf("GC percent %d after restore, want 100", got)
	}
	debug.SetGCPercent(100)
	if d := DefaultMemoryLimit(); d < 64<<20 || d > 1<<30 {
		t.Fatalf("default memory limit %d out of bounds", d)
	}
}

func TestReserveProcsAddsOnePerGroupAndRestores(t *testing.T) {
	prev := goruntime.GOMAXPROCS(0)
	restore := reserveProcs(3)
	if got, want := goruntime.GOMAXPROCS(0), max(prev, goruntime.NumCPU()+3); got != want {
		t.Fatalf("GOMAXPROCS %d while running 3 groups, want %d", got, want)
	}
	restore()
	if got := goruntime.GOMAXPROCS(0); got != prev {
		t.Fatalf("GOMAXPROCS %d after restore, want %d", got, prev)
	}
}

func TestDefaultMemoryLimitIsSmall(t *testing.T) {
	if d := DefaultMemoryLimit(); d < 64<<20 || d > 256<<20 {
		t.Fatalf("default memory limit %s, want 64MiB..256MiB so that a flood cannot take a small controller's memory", FormatBytes(d))
	}
}
