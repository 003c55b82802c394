package sched

import "testing"

func TestFracCmp(t *testing.T) {
	const big = 1<<63 - 1
	tests := []struct {
		an, ad, bn, bd uint64
		want           int
	}{
		{1, 2, 2, 4, 0},
		{1, 3, 1, 2, -1},
		{3, 4, 2, 3, 1},
		{1, 0, big, 1, 1},                    // +Inf beats any finite value
		{1, 0, 1, 0, 0},                      // +Inf ties +Inf
		{0, 5, 0, 7, 0},                      // zeros tie whatever the denominator
		{big, big - 1, big - 1, big - 2, -1}, // needs all 128 bits
	}
	for _, tt := range tests {
		if got := fracCmp(tt.an, tt.ad, tt.bn, tt.bd); got != tt.want {
			t.Errorf("fracCmp(%d/%d, %d/%d) = %d, want %d", tt.an, tt.ad, tt.bn, tt.bd, got, tt.want)
		}
	}
}

func TestScale(t *testing.T) {
	tests := []struct {
		c      int64
		shift  uint8
		scaled int64
	}{
		{0, 63, 1},
		{-5, 63, 1},
		{4000, 0, 4000},
		{1<<31 - 1, 0, 1<<31 - 1},
		{1 << 31, 1, 1 << 30},
		{1<<62 + 12345, 32, 1 << 30},
	}
	for _, tt := range tests {
		if shift, scaled := scale(tt.c); shift != tt.shift || scaled != tt.scaled {
			t.Errorf("scale(%d) = %d, %d; want %d, %d", tt.c, shift, scaled, tt.shift, tt.scaled)
		}
	}
}
