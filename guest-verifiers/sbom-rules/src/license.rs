//! SPDX license expressions (SPDX 2.3 annex D): parsing and policy evaluation.
//!
//! Grammar, loosest binding first: `expr = and ("OR" and)*`, `and = with ("AND" with)*`,
//! `with = simple ("WITH" exception)?`, `simple = id ["+"] | "(" expr ")"`. Operators are
//! recognised in upper or lower case; license ids are compared case-insensitively (as SPDX says).
//!
//! Matching a license term against a configured list ignores version-range suffixes: `GPL-2.0`,
//! `GPL-2.0-only`, `GPL-2.0+` and `GPL-2.0-or-later` all have the base `gpl-2.0`. A list entry
//! without an exception matches every term of that base (with or without `WITH ...`); an entry
//! with an exception (`GPL-2.0-only WITH Classpath-exception-2.0`) matches only terms carrying that
//! exception.

use std::collections::BTreeSet;
use std::fmt;

/// Deepest parenthesis nesting accepted (the guest has a small stack).
const MAX_DEPTH: usize = 64;

/// Why an expression did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One license in an expression: `id[+] [WITH exception]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// License id as written (`MIT`, `GPL-2.0-only`, `LicenseRef-foo`, or a free-text name).
    pub id: String,
    /// Whether the id carried the `+` (or-later) suffix.
    pub or_later: bool,
    /// The exception after `WITH`, if any.
    pub exception: Option<String>,
}

impl Term {
    /// A term for a free-text license name (CycloneDX `license.name`), not parsed.
    pub fn named(name: &str) -> Term {
        Term {
            id: name.trim().to_owned(),
            or_later: false,
            exception: None,
        }
    }

    /// The id with version-range suffixes removed, lower case: the key list entries match on.
    pub fn base(&self) -> String {
        let id = self.id.to_ascii_lowercase();
        let id = id.strip_suffix('+').unwrap_or(&id);
        let id = id
            .strip_suffix("-or-later")
            .or_else(|| id.strip_suffix("-only"))
            .unwrap_or(id);
        id.to_owned()
    }

    /// Whether the configured list `entry` covers this term (see the module docs).
    pub fn matches(&self, entry: &Term) -> bool {
        if self.base() != entry.base() {
            return false;
        }
        match &entry.exception {
            None => true,
            Some(e) => self
                .exception
                .as_ref()
                .is_some_and(|mine| mine.eq_ignore_ascii_case(e)),
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)?;
        if self.or_later {
            f.write_str("+")?;
        }
        if let Some(e) = &self.exception {
            write!(f, " WITH {e}")?;
        }
        Ok(())
    }
}

/// A parsed license expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A single license.
    License(Term),
    /// Both sides apply.
    And(Box<Expr>, Box<Expr>),
    /// Either side may be chosen.
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Parses an SPDX license expression.
    pub fn parse(text: &str) -> Result<Expr, ParseError> {
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Err(ParseError("empty license expression".into()));
        }
        let mut p = Parser { tokens, pos: 0 };
        let expr = p.or(0)?;
        if let Some(t) = p.tokens.get(p.pos) {
            return Err(ParseError(format!(
                "unexpected {t} after a complete expression"
            )));
        }
        Ok(expr)
    }

    /// All of the expressions in `parts` together (CycloneDX lists several licenses).
    pub fn all(mut parts: Vec<Expr>) -> Option<Expr> {
        let first = if parts.is_empty() {
            return None;
        } else {
            parts.remove(0)
        };
        Some(
            parts
                .into_iter()
                .fold(first, |acc, e| Expr::And(Box::new(acc), Box::new(e))),
        )
    }

    /// Whether the expression can be satisfied using only terms `acceptable` accepts:
    /// `OR` needs any branch, `AND` needs every branch.
    pub fn satisfiable(&self, acceptable: &dyn Fn(&Term) -> bool) -> bool {
        match self {
            Expr::License(t) => acceptable(t),
            Expr::And(a, b) => a.satisfiable(acceptable) && b.satisfiable(acceptable),
            Expr::Or(a, b) => a.satisfiable(acceptable) || b.satisfiable(acceptable),
        }
    }

    /// Every term of the expression, left to right.
    pub fn terms(&self) -> Vec<&Term> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::License(t) => out.push(t),
                Expr::And(a, b) | Expr::Or(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
            }
        }
        out
    }

    /// Distinct terms as displayed, for counting the licenses an SBOM uses.
    pub fn term_names(&self, into: &mut BTreeSet<String>) {
        for t in self.terms() {
            into.insert(t.to_string());
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn side(f: &mut fmt::Formatter<'_>, e: &Expr, parent_and: bool) -> fmt::Result {
            match e {
                Expr::Or(..) if parent_and => write!(f, "({e})"),
                _ => write!(f, "{e}"),
            }
        }
        match self {
            Expr::License(t) => write!(f, "{t}"),
            Expr::And(a, b) => {
                side(f, a, true)?;
                f.write_str(" AND ")?;
                side(f, b, true)
            }
            Expr::Or(a, b) => write!(f, "{a} OR {b}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    With,
    Id(String),
    Plus,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Open => f.write_str("`(`"),
            Token::Close => f.write_str("`)`"),
            Token::And => f.write_str("`AND`"),
            Token::Or => f.write_str("`OR`"),
            Token::With => f.write_str("`WITH`"),
            Token::Plus => f.write_str("`+`"),
            Token::Id(s) => write!(f, "`{s}`"),
        }
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':')
}

fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '+' => {
                chars.next();
                tokens.push(Token::Plus);
            }
            c if is_id_char(c) => {
                let mut end = i;
                while let Some(&(j, c)) = chars.peek() {
                    if !is_id_char(c) {
                        break;
                    }
                    end = j + c.len_utf8();
                    chars.next();
                }
                let word = &text[i..end];
                tokens.push(match word {
                    "AND" | "and" => Token::And,
                    "OR" | "or" => Token::Or,
                    "WITH" | "with" => Token::With,
                    _ => Token::Id(word.to_owned()),
                });
            }
            other => {
                return Err(ParseError(format!(
                    "unexpected character {other:?} at byte {i}"
                )));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut left = self.and(depth)?;
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            let right = self.and(depth)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut left = self.with(depth)?;
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            let right = self.with(depth)?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn with(&mut self, depth: usize) -> Result<Expr, ParseError> {
        match self.next() {
            Some(Token::Open) => {
                if depth >= MAX_DEPTH {
                    return Err(ParseError(format!(
                        "parentheses nested deeper than {MAX_DEPTH}"
                    )));
                }
                let inner = self.or(depth + 1)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    Some(t) => Err(ParseError(format!("expected `)`, found {t}"))),
                    None => Err(ParseError("missing `)` at the end".into())),
                }
            }
            Some(Token::Id(id)) => {
                let or_later = if self.peek() == Some(&Token::Plus) {
                    self.pos += 1;
                    true
                } else {
                    false
                };
                let exception = if self.peek() == Some(&Token::With) {
                    self.pos += 1;
                    match self.next() {
                        Some(Token::Id(e)) => Some(e),
                        Some(t) => {
                            return Err(ParseError(format!(
                                "expected an exception id after `WITH`, found {t}"
                            )));
                        }
                        None => {
                            return Err(ParseError(
                                "expected an exception id after `WITH`, found the end".into(),
                            ));
                        }
                    }
                } else {
                    None
                };
                Ok(Expr::License(Term {
                    id,
                    or_later,
                    exception,
                }))
            }
            Some(t) => Err(ParseError(format!("expected a license id, found {t}"))),
            None => Err(ParseError(
                "expected a license id, found the end of the expression".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        Expr::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn allowed<'a>(list: &'a [&'a str]) -> impl Fn(&Term) -> bool + 'a {
        move |t: &Term| {
            list.iter().any(|e| match p(e) {
                Expr::License(entry) => t.matches(&entry),
                _ => panic!("list entry must be one term"),
            })
        }
    }

    #[test]
    fn parses_single_ids_plus_and_exceptions() {
        assert_eq!(
            p("MIT"),
            Expr::License(Term {
                id: "MIT".into(),
                or_later: false,
                exception: None
            })
        );
        assert_eq!(
            p("GPL-2.0+ WITH Classpath-exception-2.0"),
            Expr::License(Term {
                id: "GPL-2.0".into(),
                or_later: true,
                exception: Some("Classpath-exception-2.0".into())
            })
        );
        assert_eq!(
            p("DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2").to_string(),
            "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2"
        );
    }

    #[test]
    fn precedence_is_with_then_and_then_or() {
        assert_eq!(
            p("MIT OR Apache-2.0 AND BSD-3-Clause").to_string(),
            "MIT OR Apache-2.0 AND BSD-3-Clause"
        );
        match p("MIT OR Apache-2.0 AND BSD-3-Clause") {
            Expr::Or(a, b) => {
                assert!(matches!(*a, Expr::License(_)));
                assert!(matches!(*b, Expr::And(..)));
            }
            other => panic!("{other:?}"),
        }
        match p("(MIT OR Apache-2.0) AND BSD-3-Clause") {
            Expr::And(a, _) => assert!(matches!(*a, Expr::Or(..))),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            p("(MIT or Apache-2.0) and BSD-3-Clause").to_string(),
            "(MIT OR Apache-2.0) AND BSD-3-Clause"
        );
    }

    #[test]
    fn malformed_expressions_are_errors() {
        for bad in [
            "",
            "   ",
            "MIT AND",
            "OR MIT",
            "(MIT",
            "MIT)",
            "MIT Apache-2.0",
            "GPL-2.0 WITH",
            "GPL-2.0 WITH (X)",
            "MIT / Apache",
            "++",
        ] {
            assert!(Expr::parse(bad).is_err(), "{bad:?} should not parse");
        }
        let deep = format!("{}MIT{}", "(".repeat(100), ")".repeat(100));
        assert!(Expr::parse(&deep).unwrap_err().0.contains("nested deeper"));
        let ok = format!("{}MIT{}", "(".repeat(10), ")".repeat(10));
        assert_eq!(p(&ok).to_string(), "MIT");
    }

    #[test]
    fn or_needs_one_acceptable_branch_and_needs_all() {
        let ok = allowed(&["MIT", "Apache-2.0"]);
        assert!(p("MIT").satisfiable(&ok));
        assert!(p("GPL-3.0-only OR MIT").satisfiable(&ok));
        assert!(!p("GPL-3.0-only AND MIT").satisfiable(&ok));
        assert!(p("(GPL-3.0-only OR MIT) AND (Apache-2.0 OR LGPL-2.1)").satisfiable(&ok));
        assert!(!p("(GPL-3.0-only OR MIT) AND (AGPL-3.0 OR LGPL-2.1)").satisfiable(&ok));
        assert!(p("mit").satisfiable(&ok), "ids are case-insensitive");
    }

    #[test]
    fn disallowed_fails_only_when_every_choice_needs_it() {
        let deny = ["GPL-3.0-only", "AGPL-3.0-only"];
        let not_denied = |t: &Term| !allowed(&deny)(t);
        assert!(p("GPL-3.0-only OR MIT").satisfiable(&not_denied));
        assert!(!p("GPL-3.0-only AND MIT").satisfiable(&not_denied));
        assert!(!p("GPL-3.0-or-later OR AGPL-3.0").satisfiable(&not_denied));
        assert!(!p("GPL-3.0+").satisfiable(&not_denied));
    }

    #[test]
    fn version_suffixes_and_exceptions_match_as_documented() {
        let gpl = allowed(&["GPL-2.0-only"]);
        for t in [
            "GPL-2.0",
            "GPL-2.0+",
            "GPL-2.0-or-later",
            "gpl-2.0-only",
            "GPL-2.0-only WITH Classpath-exception-2.0",
        ] {
            assert!(p(t).satisfiable(&gpl), "{t}");
        }
        assert!(!p("LGPL-2.0").satisfiable(&gpl));
        let with = allowed(&["GPL-2.0-only WITH Classpath-exception-2.0"]);
        assert!(p("GPL-2.0 WITH classpath-exception-2.0").satisfiable(&with));
        assert!(!p("GPL-2.0-only").satisfiable(&with));
        assert!(!p("GPL-2.0-only WITH GCC-exception-3.1").satisfiable(&with));
    }

    #[test]
    fn terms_and_all_combine() {
        let e = Expr::all(vec![p("MIT"), p("Apache-2.0 OR BSD-2-Clause")]).unwrap();
        assert_eq!(e.to_string(), "MIT AND (Apache-2.0 OR BSD-2-Clause)");
        let names: Vec<String> = e.terms().iter().map(|t| t.to_string()).collect();
        assert_eq!(names, ["MIT", "Apache-2.0", "BSD-2-Clause"]);
        assert!(Expr::all(vec![]).is_none());
        let mut set = BTreeSet::new();
        p("MIT AND (MIT OR ISC)").term_names(&mut set);
        assert_eq!(set.len(), 2);
    }
}
