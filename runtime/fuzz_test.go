package runtime_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
)

// fuzzDirs are the directories a fuzzed application is loaded from, so that
// its includes resolve against real corpus files.
var fuzzDirs = []string{"testdata/invalid", "testdata/invalid/inc", "testdata/valid", "testdata/valid/parts", "testdata/valid/parts/more", "../apps"}

// FuzzLoad feeds the loader arbitrary YAML, seeded with every application
// in the corpus, the valid applications and apps/. The loader must never
// panic, and a failed load must explain itself: a non-empty ConfigErrors
// whose every entry has a file, a line and column of 1 or more, and a
// message.
func FuzzLoad(f *testing.F) {
	files := map[string][]byte{} // every file an include may name
	for _, dir := range []string{"testdata", "../apps"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
				return err
			}
			data, err := os.ReadFile(path)
			files[filepath.Clean(path)] = data
			return err
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	for path, data := range files {
		for i, dir := range fuzzDirs {
			if filepath.Dir(path) == filepath.Clean(dir) {
				f.Add(uint8(i), data)
			}
		}
	}
	reg := corpusRegistry()
	// Includes are served from the corpus only: a mutated path must not
	// make the fuzzer read /dev/zero or block on a pipe.
	read := func(name string) ([]byte, error) {
		if data, ok := files[filepath.Clean(name)]; ok {
			return data, nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f.Fuzz(func(t *testing.T, dir uint8, data []byte) {
		name := filepath.Join(fuzzDirs[int(dir)%len(fuzzDirs)], "fuzz.yaml")
		opts := runtime.LoadOptions{
			Env:       testEnv(corpusEnv),
			Scheduler: scheduler.Options{Virtual: true},
			ReadFile:  read,
		}
		// A load that never ends is a failure too; panicking records the input.
		watchdog := time.AfterFunc(20*time.Second, func() {
			panic(fmt.Sprintf("LoadBytes(%s) ran for 20s on %q", name, data))
		})
		app, err := runtime.LoadBytes(name, data, reg, opts)
		watchdog.Stop()
		if err == nil {
			if app == nil || app.Name == "" || len(app.All()) == 0 {
				t.Fatalf("loaded without error but the application is empty: %+v", app)
			}
			return
		}
		var ces runtime.ConfigErrors
		if !errors.As(err, &ces) {
			t.Fatalf("error is %T, not ConfigErrors: %v", err, err)
		}
		if len(ces) == 0 {
			t.Fatal("empty ConfigErrors")
		}
		for _, e := range ces {
			if e.Pos.File == "" || e.Pos.Line < 1 || e.Pos.Col < 1 || e.Msg == "" {
				t.Errorf("error without a position or message: %q (pos %+v)", e.Error(), e.Pos)
			}
		}
	})
}
