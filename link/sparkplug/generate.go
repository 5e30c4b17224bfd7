package sparkplug

//go:generate protoc --proto_path=. --go_out=. --go_opt=module=github.com/metronome-rt/metronome/link/sparkplug sparkplug_b.proto
