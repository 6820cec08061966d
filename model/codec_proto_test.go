package model

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/protoutil"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The tests here hold session.proto to what the codec writes and reads,
// with protobuf-go's own decoder and encoder on the other side.
//
// A proto field stands for the Go field whose JSON name is the proto
// field's name, in the Go type named like the proto message: the model's
// JSON names are its public names already, so no table is kept here.

// schemaSessions are the sessions checked against the schema: every field
// set, and the edges where the encoding differs from "omit the zero".
func schemaSessions(t *testing.T) map[string]*Session {
	distinct, _ := distinctSession(t, nil)
	epoch := time.Unix(0, 0).UTC()
	return map[string]*Session{
		"distinct":      distinct,
		"full":          fullSession(),
		"empty":         {},
		"epoch":         {CreatedAt: epoch, Enrichment: Enrichment{FirstSeen: epoch}, Contexts: []TenantContext{{ModifiedAt: epoch}}},
		"before 1970":   {UpdatedAt: time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)},
		"empty product": {Product: &Product{}},
		"empty lines":   {Cart: Cart{Items: []CartItem{{}, {}}}, Orders: []Order{{}}, Contexts: []TenantContext{{}}},
		"bool only":     {Customer: Customer{MarketingPermission: true}},
	}
}

func TestSchemaMatchesGoTypes(t *testing.T) {
	checkNames(t, sessionDescriptor(t), reflect.TypeFor[Session](), map[protoreflect.FullName]bool{})
}

// TestSchemaDecodesOurEncoding: protobuf-go reads what we write, finds no
// field the schema lacks, and sees every Go field's value in its field.
// What it re-encodes from that is exactly what we wrote, and decodes back.
func TestSchemaDecodesOurEncoding(t *testing.T) {
	desc := sessionDescriptor(t)
	for name, s := range schemaSessions(t) {
		t.Run(name, func(t *testing.T) {
			ours := s.AppendBinary(nil)
			m := dynamicpb.NewMessage(desc)
			if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(ours, m); err != nil {
				t.Fatalf("proto.Unmarshal: %v", err)
			}
			requireNoUnknown(t, "Session", m)
			compareMessage(t, "Session", m, reflect.ValueOf(s).Elem())

			theirs, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				t.Fatalf("proto.Marshal: %v", err)
			}
			var got Session
			if err := got.UnmarshalBinary(theirs); err != nil {
				t.Fatalf("decoding proto.Marshal's bytes: %v", err)
			}
			for _, d := range diff("Session", reflect.ValueOf(&got).Elem(), reflect.ValueOf(s).Elem()) {
				t.Error("through proto.Marshal:", d)
			}
			// Fields are declared in number order, as we write them, so
			// equal bytes also mean the same presence rules: no value we
			// write is one proto3 would leave out, or the other way round.
			if !bytes.Equal(theirs, ours) {
				t.Errorf("proto.Marshal wrote\n%x\nwe write\n%x", theirs, ours)
			}
		})
	}
}

// TestSchemaMergesLikeProto: two encodings one after the other are one
// message whose later scalars win, lists add up and messages merge, in
// protobuf. Our decoder must read such bytes the same way.
func TestSchemaMergesLikeProto(t *testing.T) {
	desc := sessionDescriptor(t)
	distinct, _ := distinctSession(t, nil)
	partial := &Session{
		ID:         "later",
		Cart:       Cart{Items: []CartItem{{ProductID: "later"}}},
		Customer:   Customer{Email: "later"},
		Product:    &Product{Name: "later"},
		Enrichment: Enrichment{Campaign: Campaign{Term: "later"}},
	}
	for name, pair := range map[string][2]*Session{
		"product":          {{Product: &Product{ProductID: "p", Price: 5}}, {Product: &Product{Name: "n"}}},
		"distinct partial": {distinct, partial},
		"distinct twice":   {distinct, distinct},
	} {
		t.Run(name, func(t *testing.T) {
			b := pair[1].AppendBinary(pair[0].AppendBinary(nil))
			m := dynamicpb.NewMessage(desc)
			if err := proto.Unmarshal(b, m); err != nil {
				t.Fatalf("proto.Unmarshal: %v", err)
			}
			var got Session
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			compareMessage(t, "Session", m, reflect.ValueOf(&got).Elem())
		})
	}
}

// sessionDescriptor compiles session.proto and builds the Session message
// through protodesc, so that protobuf-go validates the schema itself.
func sessionDescriptor(t *testing.T) protoreflect.MessageDescriptor {
	t.Helper()
	c := protocompile.Compiler{
		Resolver:       &protocompile.SourceResolver{},
		SourceInfoMode: protocompile.SourceInfoStandard, // for the comments
	}
	files, err := c.Compile(context.Background(), "session.proto")
	if err != nil {
		t.Fatalf("compiling session.proto: %v", err)
	}
	fd, err := protodesc.NewFile(protoutil.ProtoFromFileDescriptor(files[0]), new(protoregistry.Files))
	if err != nil {
		t.Fatalf("session.proto: %v", err)
	}
	md := fd.Messages().ByName("Session")
	if md == nil {
		t.Fatal("session.proto has no message Session")
	}
	return md
}

// checkNames pairs the fields of md and typ both ways and requires each
// proto field's comment to start with the Go field it stands for.
func checkNames(t *testing.T, md protoreflect.MessageDescriptor, typ reflect.Type, seen map[protoreflect.FullName]bool) {
	t.Helper()
	if seen[md.FullName()] {
		return
	}
	seen[md.FullName()] = true
	if string(md.Name()) != typ.Name() {
		t.Errorf("message %s stands for Go type %s: rename one", md.Name(), typ.Name())
	}
	for i := range typ.NumField() {
		sf := typ.Field(i)
		if md.Fields().ByName(protoreflect.Name(jsonName(sf))) == nil {
			t.Errorf("%s.%s has no field %q in message %s", typ.Name(), sf.Name, jsonName(sf), md.Name())
		}
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		sf, ok := goField(typ, fd)
		if !ok {
			t.Errorf("%s.%s: no field of %s has that JSON name", md.Name(), fd.Name(), typ.Name())
			continue
		}
		comment := fd.ParentFile().SourceLocations().ByDescriptor(fd).LeadingComments
		if want := typ.Name() + "." + sf.Name; !strings.HasPrefix(strings.TrimSpace(comment), want) {
			t.Errorf("%s.%s: comment %q should start with %s", md.Name(), fd.Name(), comment, want)
		}
		if fd.Message() != nil {
			checkNames(t, fd.Message(), elemType(sf.Type), seen)
		}
	}
}

func jsonName(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
	return name
}

// goField is the Go field of typ that proto field fd stands for.
func goField(typ reflect.Type, fd protoreflect.FieldDescriptor) (reflect.StructField, bool) {
	for i := range typ.NumField() {
		if sf := typ.Field(i); jsonName(sf) == string(fd.Name()) {
			return sf, true
		}
	}
	return reflect.StructField{}, false
}

// elemType is the struct type behind a pointer or slice field.
func elemType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t
}

// requireNoUnknown fails for fields in m, at any depth, that the schema
// does not declare: bytes we write that the schema does not explain.
func requireNoUnknown(t *testing.T, path string, m protoreflect.Message) {
	t.Helper()
	if u := m.GetUnknown(); len(u) > 0 {
		t.Errorf("%s: fields unknown to the schema: %x", path, []byte(u))
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				requireNoUnknown(t, fmt.Sprintf("%s.%s[%d]", path, fd.Name(), i), v.List().Get(i).Message())
			}
		case fd.Message() != nil:
			requireNoUnknown(t, path+"."+string(fd.Name()), v.Message())
		}
		return true
	})
}

// compareMessage requires every field of m to hold the value of its Go
// field in v, as the schema's comments say it is represented.
func compareMessage(t *testing.T, path string, m protoreflect.Message, v reflect.Value) {
	t.Helper()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		sf, ok := goField(v.Type(), fd)
		if !ok {
			t.Errorf("%s: no Go field for %s", path, fd.Name())
			continue
		}
		compareField(t, path+"."+sf.Name, m, fd, v.FieldByIndex(sf.Index))
	}
}

func compareField(t *testing.T, path string, m protoreflect.Message, fd protoreflect.FieldDescriptor, v reflect.Value) {
	t.Helper()
	switch {
	case fd.IsList() && fd.Message() != nil && v.Kind() == reflect.Slice:
		l := m.Get(fd).List()
		if l.Len() != v.Len() {
			t.Errorf("%s: %d elements in proto, %d in Go", path, l.Len(), v.Len())
			return
		}
		for i := range l.Len() {
			compareMessage(t, fmt.Sprintf("%s[%d]", path, i), l.Get(i).Message(), v.Index(i))
		}
	case fd.IsList() && fd.Kind() == protoreflect.StringKind && v.Kind() == reflect.Slice:
		l := m.Get(fd).List()
		if l.Len() != v.Len() {
			t.Errorf("%s: %d elements in proto, %d in Go", path, l.Len(), v.Len())
			return
		}
		for i := range l.Len() {
			if l.Get(i).String() != v.Index(i).String() {
				t.Errorf("%s[%d]: proto %q, Go %q", path, i, l.Get(i).String(), v.Index(i).String())
			}
		}
	case fd.IsList() || fd.IsMap():
		t.Errorf("%s: no rule for repeated %s; add one here", path, fd.Kind())
	case fd.Message() != nil:
		if v.Kind() == reflect.Pointer {
			if v.IsNil() == m.Has(fd) {
				t.Errorf("%s: proto has it %v, Go pointer is nil %v", path, m.Has(fd), v.IsNil())
				return
			}
			if v.IsNil() {
				return
			}
			v = v.Elem()
		}
		// Unset, Get gives an empty message: the Go struct must be zero.
		compareMessage(t, path, m.Get(fd).Message(), v)
	default:
		got, err := goValue(fd, m, v.Type())
		if err != nil {
			t.Errorf("%s: %v", path, err)
		} else if !reflect.DeepEqual(got.Interface(), v.Interface()) {
			t.Errorf("%s: proto field %s = %s, Go has %s", path, fd.Name(), show(got), show(v))
		}
	}
}

// goValue is scalar field fd of m as the codec decodes it into Go type typ.
// It refuses pairings the codec does not use, so the schema says the
// representation as well as the number.
func goValue(fd protoreflect.FieldDescriptor, m protoreflect.Message, typ reflect.Type) (reflect.Value, error) {
	pv, k := m.Get(fd), fd.Kind()
	out := reflect.New(typ).Elem()
	switch {
	case typ == reflect.TypeFor[time.Time]():
		if k != protoreflect.Int64Kind || !fd.HasPresence() {
			return out, fmt.Errorf("a time is an optional int64 of Unix nanoseconds (0 is the epoch, not the zero time), not %s", k)
		}
		if m.Has(fd) {
			out.Set(reflect.ValueOf(time.Unix(0, pv.Int()).UTC()))
		}
	case typ == reflect.TypeFor[json.RawMessage]() && k == protoreflect.BytesKind:
		if b := pv.Bytes(); len(b) > 0 {
			out.SetBytes(bytes.Clone(b))
		}
	case typ == reflect.TypeFor[Decimal]():
		if k != protoreflect.Sint64Kind {
			return out, fmt.Errorf("a Decimal is a sint64 of millionths, not %s", k)
		}
		out.SetInt(pv.Int())
	case typ.Kind() == reflect.String && k == protoreflect.StringKind:
		out.SetString(pv.String())
	case typ.Kind() == reflect.Bool && k == protoreflect.BoolKind:
		out.SetBool(pv.Bool())
	case out.CanInt() && k == protoreflect.Int64Kind:
		out.SetInt(pv.Int())
	case out.CanUint() && k == protoreflect.Uint64Kind:
		out.SetUint(pv.Uint())
	case typ.Kind() == reflect.Uint32 && k == protoreflect.Uint32Kind:
		out.SetUint(pv.Uint())
	default:
		return out, fmt.Errorf("no rule for Go %s as proto %s; add one here", typ, k)
	}
	return out, nil
}
