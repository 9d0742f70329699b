package names

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestAccount(t *testing.T) {
	for _, tt := range []struct {
		in, display, key string
		refused          string // part of the reason, when refused
	}{
		{"alice", "alice", "alice", ""},
		{"Émile", "Émile", "émile", ""},
		{"E\u0301mile", "Émile", "émile", ""}, // decomposed: one name with the composed form
		{"ÉMILE", "ÉMILE", "émile", ""},
		{"ＡＬＩＣＥ", "ALICE", "alice", ""}, // full width
		{"ann.b_c-d", "ann.b_c-d", "ann.b_c-d", ""},
		{"Ωμέγα", "Ωμέγα", "ωμέγα", ""},
		{"नमस्ते", "नमस्ते", "नमस्ते", ""}, // Devanagari needs its combining signs
		{"山田たろう", "山田たろう", "山田たろう", ""},
		{"ユーザー1", "ユーザー1", "ユーザー1", ""},
		{"김철수", "김철수", "김철수", ""},
		{"שלום", "שלום", "שלום", ""},
		{"", "", "", "is required"},
		{"a b", "", "", "may hold only letters, digits and . _ - (found ' ')"},
		{"<script>", "", "", "found '<'"},
		{"\u0301a", "", "", "found"},
		{"bob\x00", "", "", "found '\\x00'"},
		{"\xff", "", "", "UTF-8"},
		{strings.Repeat("n", 33), "", "", "at most 32"},
		{strings.Repeat("n", 300), "", "", "at most 32"},
		{"аlice", "", "", "mixes Cyrillic and Latin"}, // Cyrillic а
		{"pаypal", "", "", "mixes Latin and Cyrillic"},
		{"Αlpha", "", "", "mixes Greek and Latin"}, // Greek Α
		{"ﬁsh", "", "", "may not hold 'ﬁ'"},
		{"abc١٢٣", "", "", "right-to-left"},
	} {
		n, err := Account(tt.in)
		if tt.refused != "" {
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(e.Reason, tt.refused) {
				t.Errorf("Account(%q) = %+v, %v; want refused saying %q", tt.in, n, err, tt.refused)
			}
			continue
		}
		if err != nil || n.Display != tt.display || n.Key != tt.key {
			t.Errorf("Account(%q) = %+v, %v; want %q, key %q", tt.in, n, err, tt.display, tt.key)
		}
	}
}

func TestGuest(t *testing.T) {
	for _, tt := range []struct {
		in, display, key string
		refused          string
	}{
		{"Ann Lee", "Ann Lee", "ann lee", ""},
		{"  Ann   Lee ", "Ann Lee", "ann lee", ""},
		{"Émile Zola", "Émile Zola", "émile zola", ""},
		{"alice", "alice", "alice", ""}, // one word: the key of the account "Alice"
		{"Jean-Luc O.", "Jean-Luc O.", "jean-luc o.", ""},
		{"   ", "", "", "is required"},
		{"a\tb", "", "", "letters, digits, spaces and . _ - (found '\\t')"},
		{"Ann\u00a0Lee", "", "", "found '\\u00a0'"},
		{"аlice smith", "", "", "mixes Cyrillic and Latin"},
		{"Ivan Иванов", "", "", "mixes Latin and Cyrillic"},
		{strings.Repeat("ab ", 11) + "c", "", "", "at most 32"}, // 34
	} {
		n, err := Guest(tt.in)
		if tt.refused != "" {
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(e.Reason, tt.refused) {
				t.Errorf("Guest(%q) = %+v, %v; want refused saying %q", tt.in, n, err, tt.refused)
			}
			continue
		}
		if err != nil || n.Display != tt.display || n.Key != tt.key {
			t.Errorf("Guest(%q) = %+v, %v; want %q, key %q", tt.in, n, err, tt.display, tt.key)
		}
	}
}

// TestKeyIsLenient: Key finds names stored before the other rules, and
// agrees with Account on names Account accepts.
func TestKeyIsLenient(t *testing.T) {
	for in, want := range map[string]string{"аlice": "аlice", "Émile": "émile", "ANN": "ann"} {
		if k, ok := Key(in); !ok || k != want {
			t.Errorf("Key(%q) = %q, %v; want %q", in, k, ok, want)
		}
	}
	for _, in := range []string{"a b", "", strings.Repeat("x", MaxBytes+1), "ﬁsh"} {
		if k, ok := Key(in); ok {
			t.Errorf("Key(%q) = %q, want none", in, k)
		}
	}
}

// checkPrepared fails unless n, prepared from in by prep, is what the rules
// say, and preparing it again changes nothing.
func checkPrepared(t *testing.T, in string, n Name, guest bool, prep func(string) (Name, error)) {
	t.Helper()
	d := n.Display
	if d == "" || !utf8.ValidString(d) || utf8.RuneCountInString(d) > MaxRunes || strings.TrimSpace(d) != d || strings.Contains(d, "  ") {
		t.Fatalf("%q prepared as %q", in, d)
	}
	if !guest && strings.Contains(d, " ") {
		t.Fatalf("account name %q prepared as %q, with a space", in, d)
	}
	for i, r := range []rune(d) {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !(i > 0 && unicode.IsMark(r)) && !strings.ContainsRune(" ._-", r) {
			t.Fatalf("%q prepared as %q, which holds %q", in, d, r)
		}
	}
	if _, _, mixed := mixedScripts(d); mixed {
		t.Fatalf("%q prepared as %q, of mixed scripts", in, d)
	}
	again, err := prep(d)
	if err != nil || again != n {
		t.Fatalf("%q prepared as %+v, which prepares as %+v, %v", in, n, again, err)
	}
	if !guest {
		if k, ok := Key(d); !ok || k != n.Key {
			t.Fatalf("%q prepared as %+v, whose Key is %q, %v", in, n, k, ok)
		}
	}
}

func checkRefusal(t *testing.T, in string, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Reason == "" || !utf8.ValidString(e.Reason) {
		t.Fatalf("%q refused with %#v, want an Error with a reason", in, err)
	}
}

var seeds = []string{"alice", "Émile", "E\u0301mile", "ＡＬＩＣＥ", "аlice", "Ann Lee", "  a  b ", "नमस्ते", "山田たろう",
	"abc١٢٣", "ﬁsh", "\u0301", "ǅ", "İstanbul", "ß", "ΣΑΣ", "a\u200db", "\xff", "x<y", strings.Repeat("é", 40)}

// FuzzAccount: no input panics Account; what it accepts follows the rules
// and is stable; what it refuses comes with a reason.
func FuzzAccount(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := Account(in)
		if err != nil {
			checkRefusal(t, in, err)
			return
		}
		checkPrepared(t, in, n, false, Account)
	})
}

// FuzzGuest: as FuzzAccount, for guests' display names; a one-word guest
// name has the key of the account name it spells.
func FuzzGuest(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := Guest(in)
		if err != nil {
			checkRefusal(t, in, err)
			return
		}
		checkPrepared(t, in, n, true, Guest)
		if a, err := Account(n.Display); err == nil && a.Key != n.Key {
			t.Fatalf("%q: guest key %q, account key %q", in, n.Key, a.Key)
		}
	})
}
