package sqlite

import "testing"

func TestMarkerText(t *testing.T) {
	for _, tc := range []struct {
		dropped, half int64
		want          string
	}{
		{7340032, 8 << 20, "\n[drover: 7340032 bytes of output dropped here; a job keeps about its first and last 8 MiB]\n"},
		{1, 512 << 10, "\n[drover: 1 bytes of output dropped here; a job keeps about its first and last 512 KiB]\n"},
		{0, 1536 << 10, "\n[drover: 0 bytes of output dropped here; a job keeps about its first and last 1.5 MiB]\n"},
		{10, 100, "\n[drover: 10 bytes of output dropped here; a job keeps about its first and last 100 bytes]\n"},
	} {
		if got := markerText(tc.dropped, tc.half); got != tc.want {
			t.Errorf("markerText(%d, %d) = %q, want %q", tc.dropped, tc.half, got, tc.want)
		}
	}
}
