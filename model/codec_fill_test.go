package model

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestCodecCoversAllFields fills every field of Session by reflection with a
// value of its own, so that a field the codec drops, or writes under
// another field's number, fails the round trip; and so does a field added
// to the model without a field number.
func TestCodecCoversAllFields(t *testing.T) {
	want, _ := distinctSession(t, nil)
	requireAllSet(t, "Session", reflect.ValueOf(want).Elem())
	got := roundTrip(t, want)
	for _, d := range diff("Session", reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()) {
		t.Error(d)
	}
}

// TestCodecKeepsBoolsApart sets one bool at a time: with all of them true,
// two bools swapped in the codec would still round-trip.
func TestCodecKeepsBoolsApart(t *testing.T) {
	_, bools := distinctSession(t, nil)
	for k, path := range bools {
		want, _ := distinctSession(t, func(i int) bool { return i == k })
		got := roundTrip(t, want)
		if d := diff("Session", reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()); d != nil {
			// The first failing bool says enough; the others would repeat it.
			t.Fatalf("only %s true: %s", path, strings.Join(d, "; "))
		}
	}
}

// distinctSession is a session with every field set to a distinct value,
// and the paths of its bools in the order they were set. boolOn says
// whether the i-th bool is true; nil makes them all true.
func distinctSession(tb testing.TB, boolOn func(i int) bool) (*Session, []string) {
	tb.Helper()
	f := &filler{t: tb, boolOn: boolOn}
	var s Session
	f.fill("Session", reflect.ValueOf(&s).Elem())
	return &s, f.bools
}

// filler sets values that tell where they belong: strings are
// "f<n>-<path>", numbers and times are derived from n, the count of values
// set so far. A value found under another field thus names its origin.
type filler struct {
	t      testing.TB
	n      int
	bools  []string
	boolOn func(i int) bool
}

// elements is how many elements a slice or map gets: two, so that a lost,
// duplicated or reordered element shows.
const elements = 2

func (f *filler) fill(path string, v reflect.Value) {
	f.t.Helper()
	if f.fillLeaf(path, v) {
		return
	}
	switch v.Kind() {
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), elements, elements))
		f.fillElements(path, v)
	case reflect.Array:
		f.fillElements(path, v)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for i := range elements {
			k := reflect.New(v.Type().Key()).Elem()
			f.fill(fmt.Sprintf("%s.key%d", path, i), k)
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(fmt.Sprintf("%s[%v]", path, k), e)
			v.SetMapIndex(k, e)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(path, v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			name := path + "." + v.Type().Field(i).Name
			if !v.Field(i).CanSet() {
				f.t.Fatalf("fill: %s is unexported; give it a rule here and a codec field", name)
			}
			f.fill(name, v.Field(i))
		}
	default:
		f.t.Fatalf("fill: no rule for %s (%s); add one and a codec field", path, v.Type())
	}
}

func (f *filler) fillElements(path string, v reflect.Value) {
	for i := range v.Len() {
		f.fill(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
	}
}

// fillLeaf sets v if it is a single value, and reports whether it was.
func (f *filler) fillLeaf(path string, v reflect.Value) bool {
	f.n++
	n := f.n
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(distinctTime(n)))
	case v.Type() == reflect.TypeFor[json.RawMessage]():
		v.SetBytes(fmt.Appendf(nil, `{"f%d":%q}`, n, path))
	case v.Kind() == reflect.String:
		v.SetString(fmt.Sprintf("f%d-%s", n, path))
	case v.Kind() == reflect.Bool:
		v.SetBool(f.boolOn == nil || f.boolOn(len(f.bools)))
		f.bools = append(f.bools, path)
	case v.CanInt():
		// Odd n negative: a signed field written unsigned, or zigzag
		// where it should not be, then decodes to another number.
		x := int64(n)*1_000_003 + 1
		if n%2 == 1 {
			x = -x
		}
		if v.OverflowInt(x) {
			f.t.Fatalf("fill: %s (%s) too small for a distinct value", path, v.Type())
		}
		v.SetInt(x)
	case v.CanUint():
		x := uint64(n)*1_000_003 + 1
		if v.OverflowUint(x) {
			f.t.Fatalf("fill: %s (%s) too small for a distinct value", path, v.Type())
		}
		v.SetUint(x)
	case v.CanFloat():
		v.SetFloat(float64(n) + 0.25)
	default:
		f.n--
		return false
	}
	return true
}

// distinctTime is a time of its own for each n, with nanoseconds; odd n
// fall before 1970, whose Unix nanoseconds are negative. All are within
// the years UnixNano can hold.
func distinctTime(n int) time.Time {
	year := 1970 + n%200
	if n%2 == 1 {
		year = 1970 - n%200
	}
	return time.Date(year, time.Month(n%12+1), n%28+1, n%24, n%60, n%60, n*1_001, time.UTC)
}

// requireAllSet fails for every field of v, at any depth, that is zero:
// it guards the filler, so that no field escapes the coverage test.
func requireAllSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			requireAllSet(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
		return
	case v.Kind() == reflect.Pointer && !v.IsNil():
		requireAllSet(t, path, v.Elem())
		return
	case (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) && v.Len() > 0 &&
		v.Type().Elem().Kind() != reflect.Uint8:
		for i := range v.Len() {
			requireAllSet(t, fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
		return
	case v.Kind() == reflect.Map && v.Len() > 0:
		for it := v.MapRange(); it.Next(); {
			requireAllSet(t, fmt.Sprintf("%s[%v]", path, it.Key()), it.Value())
		}
		return
	}
	if v.IsZero() || (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
		t.Errorf("%s (%s) was left zero by the filler", path, v.Type())
	}
}

// diff lists where got and want differ, one line per differing value, so a
// failure names the fields instead of printing two whole sessions.
func diff(path string, got, want reflect.Value) []string {
	switch {
	case got.Type() == reflect.TypeFor[time.Time]() || got.Kind() == reflect.Map:
	case got.Kind() == reflect.Struct:
		var out []string
		for i := range got.NumField() {
			out = append(out, diff(path+"."+got.Type().Field(i).Name, got.Field(i), want.Field(i))...)
		}
		return out
	case got.Kind() == reflect.Pointer && !got.IsNil() && !want.IsNil():
		return diff(path, got.Elem(), want.Elem())
	case got.Kind() == reflect.Slice && got.Len() == want.Len() && got.Type().Elem().Kind() != reflect.Uint8:
		var out []string
		for i := range got.Len() {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i))...)
		}
		return out
	}
	if reflect.DeepEqual(got.Interface(), want.Interface()) {
		return nil
	}
	return []string{fmt.Sprintf("%s = %s, want %s", path, show(got), show(want))}
}

func show(v reflect.Value) string {
	if b, ok := v.Interface().(json.RawMessage); ok {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%#v", v.Interface())
}
