package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Duplicate keys. The API refuses a body that gives a key twice in one
// object. encoding/json keeps the last of two equal keys without a word.
// A body could then run a command that a reader of the first key never
// saw, nor a proxy that checked it:
//
//	{"command":["true"],"command":["rm","-rf","/"]}
//
// Keys are compared as the decoder matches them. An object decoded into a
// struct names its fields whatever their case, so "Command" repeats
// "command". Maps and values of type any compare keys exactly, once
// unescaped.

// dupKey is a key that appears twice in one object.
type dupKey struct {
	path  []string // where the object is: keys and [indices], innermost first
	key   string   // the second key
	first string   // the first key, when it differs from key in case
	field string   // the struct fields down to the key, dotted, cut at a map or an array
}

// duplicateKey reports the first key that appears twice in one object of
// data, or nil if none does. data must be valid JSON. It is decoded into a
// value of type t.
func duplicateKey(data []byte, t reflect.Type) *dupKey {
	s := keyScan{data: data}
	return s.value(infoOf(t))
}

// keyScan walks valid JSON. It looks at keys only, and skips strings at the
// speed of bytes.IndexByte.
type keyScan struct {
	data []byte
	i    int
}

func (s *keyScan) value(t *typeInfo) *dupKey {
	s.space()
	switch s.data[s.i] {
	case '{':
		return s.object(t)
	case '[':
		return s.array(t)
	case '"':
		s.skipString()
	default:
		s.skipLiteral()
	}
	return nil
}

func (s *keyScan) array(t *typeInfo) *dupKey {
	var elem *typeInfo
	if t != nil && t.kind == kindList {
		elem = t.elem
	}
	s.i++ // [
	for n := 0; ; n++ {
		s.space()
		if s.data[s.i] == ']' {
			s.i++
			return nil
		}
		if d := s.value(elem); d != nil {
			d.path = append(d.path, "["+strconv.Itoa(n)+"]")
			return d
		}
		s.space()
		if s.data[s.i] == ',' {
			s.i++
		}
	}
}

// object scans the object at s.i, decoded into a value of type t.
// It returns the first key the object or one inside it repeats.
func (s *keyScan) object(t *typeInfo) *dupKey {
	var (
		keys objectKeys
		elem *typeInfo // a map's values
		next int       // the field after the last one given: the likely next key
	)
	switch {
	case t == nil:
	case t.kind == kindStruct:
		keys.fields = t
	case t.kind == kindMap:
		elem = t.elem
	}
	s.i++ // {
	for {
		s.space()
		if s.data[s.i] == '}' {
			s.i++
			return nil
		}
		key := keyBytes(s.skipString())
		s.space()
		s.i++ // :
		child := elem
		f, isField := keys.fields.lookup(key, next)
		if isField {
			child, next = f.info, f.index+1
			if d := keys.addField(key, f); d != nil {
				return d
			}
		} else if d := keys.addKey(key); d != nil {
			return d
		}
		if d := s.value(child); d != nil {
			d.field = innerField(d.field, f, isField, child)
			d.path = append(d.path, string(key))
			return d
		}
		s.space()
		if s.data[s.i] == ',' {
			s.i++
		}
	}
}

// innerField is the dotted field of a duplicate found in the value of key.
// f is the field key names, if isField, and child the value's type.
// inner is the field the duplicate has within that value.
//
// Struct fields say where the key is, down to a map or an array. A map's
// keys and an array's indices are not fields.
func innerField(inner string, f field, isField bool, child *typeInfo) string {
	switch {
	case !isField:
		return ""
	case inner != "" && child != nil && child.kind == kindStruct:
		return f.name + "." + inner
	default:
		return f.name
	}
}

// objectKeys is the keys one object has given so far.
type objectKeys struct {
	fields *typeInfo // a struct's, or nil
	seen   uint64    // bit i: field i was given, for the first 64 fields
	more   []bool    // field i was given, for a struct of more fields
	given  []string  // per field, the key that named it, once one differed in case
	keys   [][]byte  // the keys that name no field, while they are few
	set    map[string]bool
}

// addField notes that key gave field f.
// It returns the duplicate when f was given before.
func (o *objectKeys) addField(key []byte, f field) *dupKey {
	var was bool
	if f.index < 64 {
		was = o.seen&(1<<f.index) != 0
		o.seen |= 1 << f.index
	} else {
		if o.more == nil {
			o.more = make([]bool, len(o.fields.fields))
		}
		was = o.more[f.index]
		o.more[f.index] = true
	}
	if was {
		d := &dupKey{key: string(key), field: f.name}
		first := f.name
		if o.given != nil {
			first = o.given[f.index]
		}
		if first != d.key {
			d.first = first
		}
		return d
	}
	if o.given == nil && string(key) != f.name {
		o.given = make([]string, len(o.fields.fields))
		for i := range o.given {
			o.given[i] = o.fields.fields[i].name
		}
	}
	if o.given != nil {
		o.given[f.index] = string(key)
	}
	return nil
}

// maxKeyList is how many keys that name no field are compared one by one.
// Past it they go in a set.
const maxKeyList = 16

// addKey notes a key that names no field.
// It returns the duplicate when the key was given before.
func (o *objectKeys) addKey(key []byte) *dupKey {
	if o.set == nil && len(o.keys) < maxKeyList {
		for _, k := range o.keys {
			if bytes.Equal(k, key) {
				return &dupKey{key: string(key)}
			}
		}
		o.keys = append(o.keys, key)
		return nil
	}
	if o.set == nil {
		o.set = make(map[string]bool, 2*len(o.keys))
		for _, k := range o.keys {
			o.set[string(k)] = true
		}
	}
	if o.set[string(key)] {
		return &dupKey{key: string(key)}
	}
	o.set[string(key)] = true
	return nil
}

func (s *keyScan) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// skipString moves past the string at s.i and returns its bytes between
// the quotes, escapes and all.
func (s *keyScan) skipString() []byte {
	start := s.i + 1
	j := start
	for {
		j += bytes.IndexByte(s.data[j:], '"')
		// A quote ends the string unless an odd number of backslashes
		// comes before it.
		bs := 0
		for p := j - 1; p >= start && s.data[p] == '\\'; p-- {
			bs++
		}
		if bs%2 == 0 {
			s.i = j + 1
			return s.data[start:j]
		}
		j++
	}
}

// skipLiteral moves past a number, true, false or null.
func (s *keyScan) skipLiteral() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return
		}
		s.i++
	}
}

// keyBytes is a key as the decoder sees it: unescaped, invalid UTF-8
// replaced by U+FFFD. Most keys need neither and come back as they are.
func keyBytes(raw []byte) []byte {
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			var k string
			// The body is valid JSON, so this string is too.
			_ = json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &k)
			return []byte(k)
		}
	}
	return raw
}

// typeInfo is what the scan needs of a Go type: whether its objects name
// struct fields or map keys, and the types inside. A nil *typeInfo stands
// for a type that decodes itself, or any: its keys are compared exactly.
type typeInfo struct {
	kind   int
	fields []field        // kindStruct
	byName map[string]int // kindStruct: index of each exact name
	elem   *typeInfo      // kindMap, kindList
}

const (
	kindOther = iota // a scalar: it holds no keys
	kindStruct
	kindMap
	kindList
)

type field struct {
	name  string
	fold  []byte // name, for bytes.EqualFold
	index int
	info  *typeInfo
}

// lookup finds the field a key names. It tries the exact name first, then
// a name equal to it without regard to case, as encoding/json does. Keys
// usually come in the struct's order, so field next is tried first of all.
func (t *typeInfo) lookup(key []byte, next int) (field, bool) {
	if t == nil {
		return field{}, false
	}
	if next < len(t.fields) && string(t.fields[next].fold) == string(key) {
		return t.fields[next], true
	}
	if i, ok := t.byName[string(key)]; ok {
		return t.fields[i], true
	}
	for _, f := range t.fields {
		if bytes.EqualFold(f.fold, key) {
			return f, true
		}
	}
	return field{}, false
}

var infoCache sync.Map // reflect.Type → *typeInfo

// infoOf returns t's typeInfo, made once per type.
func infoOf(t reflect.Type) *typeInfo {
	if t == nil {
		return nil
	}
	if c, ok := infoCache.Load(t); ok {
		return c.(*typeInfo)
	}
	c, _ := infoCache.LoadOrStore(t, buildInfo(t, map[reflect.Type]*typeInfo{}))
	return c.(*typeInfo)
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// buildInfo makes t's typeInfo; made holds those under construction, for
// types that contain themselves.
func buildInfo(t reflect.Type, made map[reflect.Type]*typeInfo) *typeInfo {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) || t.Kind() == reflect.Interface {
		return nil
	}
	if info, ok := made[t]; ok {
		return info
	}
	info := &typeInfo{}
	made[t] = info
	switch t.Kind() {
	case reflect.Struct:
		info.kind = kindStruct
		fs := collectFields(t)
		info.fields = make([]field, len(fs))
		info.byName = make(map[string]int, len(fs))
		for i, f := range fs {
			info.fields[i] = field{name: f.name, fold: []byte(f.name), index: i, info: buildInfo(f.typ, made)}
			info.byName[f.name] = i
		}
	case reflect.Map:
		info.kind, info.elem = kindMap, buildInfo(t.Elem(), made)
	case reflect.Slice, reflect.Array:
		info.kind, info.elem = kindList, buildInfo(t.Elem(), made)
	}
	return info
}

// goField is a struct's JSON field: its name and Go type.
type goField struct {
	name string
	typ  reflect.Type
}

// collectFields lists t's JSON fields by encoding/json's rules:
//
//   - A field is named by its tag, else by its Go name.
//   - Fields tagged "-" and unexported fields are left out.
//   - The fields of an untagged embedded struct count as t's own.
//   - Of two fields with one name the shallower wins, then the tagged one.
//     A tie hides both.
func collectFields(t reflect.Type) []goField {
	type candidate struct {
		goField
		depth  int
		tagged bool
	}
	byName := map[string][]candidate{}
	var order []string
	var walk func(t reflect.Type, depth int, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, depth int, seen map[reflect.Type]bool) {
		if seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if sf.Anonymous {
				et := sf.Type
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if name == "" && et.Kind() == reflect.Struct {
					walk(et, depth+1, seen)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			tagged := name != ""
			if !tagged {
				name = sf.Name
			}
			if _, ok := byName[name]; !ok {
				order = append(order, name)
			}
			byName[name] = append(byName[name], candidate{goField{name, sf.Type}, depth, tagged})
		}
	}
	walk(t, 0, map[reflect.Type]bool{})
	var fs []goField
	for _, name := range order {
		cs := byName[name]
		top, tie := cs[0], false
		for _, c := range cs[1:] {
			switch {
			case c.depth < top.depth || c.depth == top.depth && c.tagged && !top.tagged:
				top, tie = c, false
			case c.depth == top.depth && c.tagged == top.tagged:
				tie = true
			}
		}
		if !tie {
			fs = append(fs, top.goField)
		}
	}
	return fs
}
