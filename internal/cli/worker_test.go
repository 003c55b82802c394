package cli

import (
	"maps"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

func TestWorkerCapacity(t *testing.T) {
	tests := []struct {
		name      string
		wf        workerFlags
		cpus      int
		memoryMB  int64
		want      drover.Capacity
		wantError string
	}{
		{name: "a tenth of the memory kept back", wf: workerFlags{maxParallel: 4}, cpus: 2, memoryMB: 8192,
			want: drover.Capacity{CPU: 2000, MemoryMB: 8192 - 819, Slots: 4}},
		{name: "at least 256 MiB kept back", wf: workerFlags{maxParallel: 1}, cpus: 1, memoryMB: 1024,
			want: drover.Capacity{CPU: 1000, MemoryMB: 1024 - 256, Slots: 1}},
		{name: "at most 2 GiB kept back", wf: workerFlags{maxParallel: 8}, cpus: 64, memoryMB: 262144,
			want: drover.Capacity{CPU: 64000, MemoryMB: 262144 - 2048, Slots: 8}},
		{name: "flags replace both", wf: workerFlags{maxParallel: 2, cpu: "1.5", memory: "3G"}, cpus: 8, memoryMB: 65536,
			want: drover.Capacity{CPU: 1500, MemoryMB: 3072, Slots: 2}},
		{name: "memory unknown but given", wf: workerFlags{maxParallel: 1, memory: "512M"}, cpus: 1, memoryMB: 0,
			want: drover.Capacity{CPU: 1000, MemoryMB: 512, Slots: 1}},
		{name: "memory unknown", wf: workerFlags{maxParallel: 1}, cpus: 1, memoryMB: 0, wantError: "set --memory"},
		{name: "no slots", wf: workerFlags{maxParallel: 0}, cpus: 1, memoryMB: 4096, wantError: "--max-parallel"},
		{name: "a bad --cpu", wf: workerFlags{maxParallel: 1, cpu: "lots"}, cpus: 1, memoryMB: 4096, wantError: "--cpu"},
		{name: "a bad --memory", wf: workerFlags{maxParallel: 1, memory: "lots"}, cpus: 1, memoryMB: 4096, wantError: "--memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.wf.capacity(tt.cpus, tt.memoryMB)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("capacity error = %v, want one naming %s", err, tt.wantError)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("capacity = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestWorkerLabelSet(t *testing.T) {
	tests := []struct {
		name      string
		wf        workerFlags
		want      map[string]string
		wantError string
	}{
		{name: "none", want: map[string]string{}},
		{name: "repeated and comma-separated", wf: workerFlags{labels: multiFlag{"gpu=a100, zone=eu", "disk=ssd"}},
			want: map[string]string{"gpu": "a100", "zone": "eu", "disk": "ssd"}},
		{name: "network allowed", wf: workerFlags{allowNetwork: true},
			want: map[string]string{drover.NetworkLabel: "true"}},
		{name: "the network label by hand", wf: workerFlags{labels: multiFlag{drover.NetworkLabel + "=true"}}, wantError: "--allow-network sets it"},
		{name: "not k=v", wf: workerFlags{labels: multiFlag{"gpu"}}, wantError: "--labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.wf.labelSet()
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("labelSet error = %v, want one saying %q", err, tt.wantError)
				}
				return
			}
			if err != nil || got == nil || !maps.Equal(got, tt.want) {
				t.Fatalf("labelSet = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
