// Package names prepares the names people go by in Beacon, account names
// and guests' display names, so that two names a person would read as the
// same are the same name. It knows nothing of HTTP or SQL, and has no
// state.
//
// # Rules
//
//   - A name is prepared with PRECIS (RFC 8264, RFC 8265) from
//     golang.org/x/text/secure/precis: NFC, full-width letters folded to
//     their usual width, the IdentifierClass of code points, the Bidi Rule.
//     Its Display is that form, case kept (UsernameCasePreserved): "Ｅmile"
//     and "E\u0301mile" both display as "Émile".
//   - Two names are the same name when their keys are equal. The key is the
//     UsernameCaseMapped form: the above, lower-cased. "Émile" and "émile"
//     have one key.
//   - An account name is one word of 1 to 32 letters, digits and . _ -
//   - A guest's display name may have several words: words are separated by
//     single spaces (runs of spaces collapse, and ends are trimmed), and each
//     word is prepared as an account name is, so a one-word guest name has
//     the key of the account name it spells. PRECIS's Nickname profile, the
//     one for names with spaces, was not used: its FreeformClass admits
//     symbols and punctuation, and its compatibility mapping (NFKC) would
//     give guests keys that account names are never compared under.
//   - A name may not mix scripts, beyond the mixes that whole writing
//     systems use (UTS #39's "highly restrictive" level: Latin with Han and
//     Hiragana/Katakana, with Han and Bopomofo, or with Han and Hangul).
//     "аlice" with a Cyrillic "а" is refused, so a guest cannot pass for
//     "alice". Common characters (digits, . _ -) and combining marks belong
//     to no script. A name written wholly in one script that looks like a
//     name in another (a "whole-script confusable") is not caught.
//   - Key is the lenient form for looking a stored name up: it prepares any
//     one word that PRECIS accepts, whatever the rules above, so accounts
//     made before them are still found.
package names
