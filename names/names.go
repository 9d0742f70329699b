package names

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/bidirule"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// MaxRunes is the most characters a name may have.
const MaxRunes = 32

// MaxBytes is the longest input looked at: a name of MaxRunes characters
// fits in it in any normal form, and longer input is refused before any
// other work.
const MaxBytes = 256

// Name is a prepared name.
type Name struct {
	// Display is the name as it is shown and stored: as typed, in NFC,
	// full-width letters folded, words separated by single spaces.
	Display string
	// Key is what names are compared by: two names are one when their keys
	// are equal.
	Key string
}

// Error says why a name was refused, in words that follow "name": "must be
// at most 32 characters".
type Error struct {
	Reason string
}

func (e *Error) Error() string { return "name " + e.Reason }

func refuse(format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...)}
}

// Account prepares an account name: one word of 1 to MaxRunes letters,
// digits and . _ - in one script.
func Account(s string) (Name, error) { return prepare(s, false) }

// Guest prepares a guest's display name: like an account name, but it may
// have several words, separated by spaces.
func Guest(s string) (Name, error) { return prepare(s, true) }

// Key returns the key of a stored name, and false when it has none: when it
// is not one word that PRECIS accepts. It does not apply the other rules,
// so names stored before them are found too.
func Key(s string) (string, bool) {
	if len(s) > MaxBytes {
		return "", false
	}
	k, err := precis.UsernameCaseMapped.String(s)
	return k, err == nil && k != ""
}

func prepare(s string, guest bool) (Name, error) {
	allowed, also := "letters, digits and . _ -", "._-"
	if guest {
		allowed, also = "letters, digits, spaces and . _ -", " ._-"
	}
	switch {
	case s == "":
		return Name{}, refuse("is required")
	case len(s) > MaxBytes:
		return Name{}, refuse("must be at most %d characters", MaxRunes)
	case !utf8.ValidString(s):
		return Name{}, refuse("is not valid UTF-8")
	}
	words := []string{s}
	if guest {
		words = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' })
		if len(words) == 0 {
			return Name{}, refuse("is required")
		}
	}
	display, keys := make([]string, len(words)), make([]string, len(words))
	for i, w := range words {
		// The characters first, composed and folded as PRECIS will, so the
		// reason names the character a person typed.
		for j, r := range []rune(norm.NFC.String(width.Fold.String(w))) {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !(j > 0 && unicode.IsMark(r)) && !strings.ContainsRune(also, r) {
				return Name{}, refuse("may hold only %s (found %q)", allowed, r)
			}
		}
		d, err := precis.UsernameCasePreserved.String(w)
		if err != nil {
			return Name{}, why(w, err)
		}
		k, ok := Key(d)
		if !ok {
			return Name{}, refuse("is not allowed as a name")
		}
		display[i], keys[i] = d, k
	}
	n := Name{Display: strings.Join(display, " "), Key: strings.Join(keys, " ")}
	if utf8.RuneCountInString(n.Display) > MaxRunes {
		return Name{}, refuse("must be at most %d characters", MaxRunes)
	}
	if a, b, mixed := mixedScripts(n.Display); mixed {
		return Name{}, refuse("mixes %s and %s letters, so it could pass for another name; use the letters of one script", a, b)
	}
	return n, nil
}

// why explains PRECIS's refusal of word w.
func why(w string, err error) error {
	if errors.Is(err, bidirule.ErrInvalid) {
		return refuse("mixes right-to-left and left-to-right writing in a way that could show it as another name")
	}
	for _, r := range norm.NFC.String(w) {
		if _, err := precis.UsernameCasePreserved.String(string(r)); err != nil && !unicode.IsMark(r) {
			return refuse("may not hold %q", r)
		}
	}
	return refuse("is not allowed as a name")
}

// Scripts whose names may be mixed (UTS #39, "highly restrictive"): how
// Japanese, Chinese and Korean are written, with Latin.
var mixes = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"},
	{"Latin", "Han", "Bopomofo"},
	{"Latin", "Han", "Hangul"},
}

// likely are the scripts looked at first, before all of unicode.Scripts.
var likely = []string{"Latin", "Cyrillic", "Greek", "Han", "Hiragana", "Katakana", "Hangul", "Arabic", "Hebrew", "Devanagari"}

// mixedScripts reports whether s holds letters of scripts that are not one
// of the mixes above, and two of them.
func mixedScripts(s string) (a, b string, mixed bool) {
	var seen []string
	for _, r := range s {
		if unicode.Is(unicode.Common, r) || unicode.Is(unicode.Inherited, r) {
			continue
		}
		if sc := scriptOf(r); sc != "" && !slices.Contains(seen, sc) {
			seen = append(seen, sc)
		}
	}
	if len(seen) < 2 {
		return "", "", false
	}
	for _, m := range mixes {
		if all(seen, m) {
			return "", "", false
		}
	}
	return seen[0], seen[1], true
}

func scriptOf(r rune) string {
	for _, name := range likely {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return ""
}

// all reports whether every element of list is in in.
func all(list, in []string) bool {
	for _, x := range list {
		if !slices.Contains(in, x) {
			return false
		}
	}
	return true
}
