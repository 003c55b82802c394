package httpapi

import "testing"

// innerField names a duplicate's field down to the first map or array.
func TestInnerField(t *testing.T) {
	res := field{name: "resources"}
	structT := &typeInfo{kind: kindStruct}
	mapT := &typeInfo{kind: kindMap}
	cases := []struct {
		name    string
		inner   string
		f       field
		isField bool
		child   *typeInfo
		want    string
	}{
		{name: "a map key is no field", inner: "cpu", isField: false, child: structT, want: ""},
		{name: "a struct's field goes on", inner: "cpu", f: res, isField: true, child: structT, want: "resources.cpu"},
		{name: "a struct's nested fields go on", inner: "usage.cpu", f: res, isField: true, child: structT, want: "resources.usage.cpu"},
		{name: "a map stops the path", inner: "cpu", f: res, isField: true, child: mapT, want: "resources"},
		{name: "a value of type any stops it", inner: "cpu", f: res, isField: true, child: nil, want: "resources"},
		{name: "nothing inside: the field itself", inner: "", f: res, isField: true, child: structT, want: "resources"},
	}
	for _, c := range cases {
		if got := innerField(c.inner, c.f, c.isField, c.child); got != c.want {
			t.Errorf("%s: innerField(%q) = %q, want %q", c.name, c.inner, got, c.want)
		}
	}
}
