package docker

import (
	"slices"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // "" = valid; else a part of the error
	}{
		{Config{}, ""},
		{Config{User: "1000"}, ""},
		{Config{User: "1000:100", Pull: PullNever, PidsLimit: 10}, ""},
		{Config{Pull: "sometimes"}, "Pull"},
		{Config{PidsLimit: -1}, "PidsLimit"},
		{Config{TmpfsSize: -1}, "TmpfsSize"},
		{Config{User: "0:0"}, "root"},
		{Config{User: "nobody"}, "numeric"},
		{Config{User: "1:x"}, "numeric"},
	} {
		tc.cfg.setDefaults()
		err := tc.cfg.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one about %s", tc.cfg, err, tc.want)
		}
	}
}

func TestDropVar(t *testing.T) {
	got := dropVar([]string{"PATH=/bin", "PATHX=1", "HOME=/w", "PATH=/x"}, "PATH")
	if want := []string{"PATHX=1", "HOME=/w"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestAPIAtLeast(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{{"1.46", true}, {"1.51", true}, {"2.0", true}, {"1.45", false}, {"1.41", false}, {"", false}, {"x.y", false}} {
		if got := apiAtLeast(tc.v, 1, 46); got != tc.want {
			t.Errorf("apiAtLeast(%q, 1, 46) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
