package api

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHMACVerifier(t *testing.T) {
	key := []byte("token-key")
	v, err := NewHMACVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	v.now = func() time.Time { return now }
	later := now.Add(time.Hour)
	good := SignHMACToken(key, "c-1", later)
	mac := good[strings.LastIndexByte(good, '.')+1:]

	// Hex is hex: the MAC's bytes are what is compared.
	if got, err := v.CustomerID(context.Background(), good[:len(good)-len(mac)]+strings.ToUpper(mac)); err != nil || got != "c-1" {
		t.Errorf("upper-case mac: %q, %v", got, err)
	}
	for _, customer := range []string{"c-1", "a.b.c", "ünï"} {
		got, err := v.CustomerID(context.Background(), SignHMACToken(key, customer, later))
		if err != nil || got != customer {
			t.Errorf("%q: got %q, %v", customer, got, err)
		}
	}

	for name, tok := range map[string]string{
		"expired":          SignHMACToken(key, "c-1", now.Add(-time.Second)),
		"expires now":      SignHMACToken(key, "c-1", now),
		"other key":        SignHMACToken([]byte("other"), "c-1", later),
		"customer swapped": "c-2" + good[len("c-1"):],
		"expiry extended":  "c-1." + itoa(later.Unix()+1) + "." + mac,
		"short mac":        good[:len(good)-2],
		"no mac":           "c-1." + itoa(later.Unix()),
		"no customer":      SignHMACToken(key, "", later),
		"empty":            "",
		"garbage":          "....",
		"too long":         SignHMACToken(key, strings.Repeat("x", maxTokenLength), later),
	} {
		if got, err := v.CustomerID(context.Background(), tok); err == nil {
			t.Errorf("%s: accepted as %q", name, got)
		}
	}
	if _, err := NewHMACVerifier(nil); err == nil {
		t.Error("an empty HMAC key was accepted")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestStaticVerifier(t *testing.T) {
	v := NewStaticVerifier(map[string]string{"tok-1": "c-1", "tok-2": "c-2", "": "c-3", "tok-4": ""})
	for tok, want := range map[string]string{"tok-1": "c-1", "tok-2": "c-2"} {
		if got, err := v.CustomerID(context.Background(), tok); err != nil || got != want {
			t.Errorf("%s: %q, %v", tok, got, err)
		}
	}
	for _, tok := range []string{"", "tok-3", "tok-4", "tok-1 "} {
		if got, err := v.CustomerID(context.Background(), tok); err == nil {
			t.Errorf("%q accepted as %q", tok, got)
		}
	}
}
