//! nft's JSON expressions and statements as typed values: each statement is read on its own
//! (a `&RawValue` of the rule's `expr` array), so one nft does not know how to print, or
//! that is malformed, becomes that rule's opaque step and not an error for the ruleset.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// An expression: a value nft prints, or what a match loads.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr<'a> {
    Null,
    Bool(bool),
    Num(u64),
    Str(Cow<'a, str>),
    /// A flag list (`["established", "related"]`), or a map element `[key, data]`.
    List(Vec<Expr<'a>>),
    Payload(Payload<'a>),
    Meta(Cow<'a, str>),
    Ct {
        key: Cow<'a, str>,
        family: Option<Cow<'a, str>>,
        dir: Option<Cow<'a, str>>,
    },
    Fib {
        result: Cow<'a, str>,
        flags: Vec<Cow<'a, str>>,
    },
    Socket(Cow<'a, str>),
    /// numgen, jhash, symhash: a value the packet does not show; for jhash, what it
    /// hashes (nft checks that the packet has those headers first).
    Hash(&'static str, Option<Box<Expr<'a>>>),
    Set(Vec<Expr<'a>>),
    Range(Box<Expr<'a>>, Box<Expr<'a>>),
    Prefix(Box<Expr<'a>>, u32),
    Concat(Vec<Expr<'a>>),
    /// `{"elem": {"val": …, "timeout": …}}`: the value.
    Elem(Box<Expr<'a>>),
    Map(Box<Expr<'a>>, Box<Expr<'a>>),
    /// `&`, `|`, `^`, `<<`, `>>`.
    Binop(&'static str, Box<Expr<'a>>, Box<Expr<'a>>),
    Verdict(JVerdict<'a>),
    /// Anything else: what it is.
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Payload<'a> {
    Named {
        protocol: Cow<'a, str>,
        field: Cow<'a, str>,
    },
    Raw {
        base: Cow<'a, str>,
        offset: u32,
        len: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum JVerdict<'a> {
    Accept,
    Drop,
    Continue,
    Return,
    Jump(Cow<'a, str>),
    Goto(Cow<'a, str>),
    Queue,
}

#[derive(Deserialize)]
struct PayloadBody<'a> {
    #[serde(borrow)]
    protocol: Option<Cow<'a, str>>,
    #[serde(borrow)]
    field: Option<Cow<'a, str>>,
    #[serde(borrow)]
    base: Option<Cow<'a, str>>,
    offset: Option<u32>,
    len: Option<u32>,
}

#[derive(Deserialize)]
struct KeyBody<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    family: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    dir: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct FibBody<'a> {
    #[serde(borrow)]
    result: Cow<'a, str>,
    #[serde(borrow, default)]
    flags: Option<OneOrMany<'a>>,
}

/// A string or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<'a> {
    #[serde(borrow)]
    One(Cow<'a, str>),
    #[serde(borrow)]
    Many(Vec<Cow<'a, str>>),
}

impl<'a> OneOrMany<'a> {
    fn into_vec(self) -> Vec<Cow<'a, str>> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
struct PrefixBody<'a> {
    #[serde(borrow)]
    addr: Expr<'a>,
    len: u32,
}

#[derive(Deserialize)]
struct ElemBody<'a> {
    #[serde(borrow)]
    val: Expr<'a>,
}

#[derive(Deserialize)]
struct MapBody<'a> {
    #[serde(borrow)]
    key: Expr<'a>,
    #[serde(borrow)]
    data: Expr<'a>,
}

#[derive(Deserialize)]
struct Target<'a> {
    #[serde(borrow)]
    target: Cow<'a, str>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Expr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ExprVisitor)
    }
}

struct ExprVisitor;

/// An object's key, borrowed from the document when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Visitor<'de> for ExprVisitor {
    type Value = Expr<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an nft expression")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Expr::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Expr::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Expr::Num(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(match u64::try_from(v) {
            Ok(n) => Expr::Num(n),
            Err(_) => Expr::Unknown(format!("the number {v}")),
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Expr::Unknown(format!("the number {v}")))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Expr::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Expr::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Expr::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Expr::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(Key(key)) = map.next_key::<Key<'de>>()? else {
            return Ok(Expr::Unknown("an empty object".into()));
        };
        let boxed = |e: Expr<'de>| Box::new(e);
        let expr = match &*key {
            "payload" => {
                let b: PayloadBody = map.next_value()?;
                match b {
                    PayloadBody {
                        protocol: Some(protocol),
                        field: Some(field),
                        ..
                    } => Expr::Payload(Payload::Named { protocol, field }),
                    PayloadBody {
                        base: Some(base),
                        offset: Some(offset),
                        len: Some(len),
                        ..
                    } => Expr::Payload(Payload::Raw { base, offset, len }),
                    _ => Expr::Unknown("payload".into()),
                }
            }
            "meta" => Expr::Meta(map.next_value::<KeyBody>()?.key),
            "ct" => {
                let b: KeyBody = map.next_value()?;
                Expr::Ct {
                    key: b.key,
                    family: b.family,
                    dir: b.dir,
                }
            }
            "fib" => {
                let b: FibBody = map.next_value()?;
                Expr::Fib {
                    result: b.result,
                    flags: b.flags.map(OneOrMany::into_vec).unwrap_or_default(),
                }
            }
            "socket" => Expr::Socket(map.next_value::<KeyBody>()?.key),
            "numgen" | "symhash" => {
                map.next_value::<IgnoredAny>()?;
                Expr::Hash(
                    if &*key == "numgen" {
                        "numgen"
                    } else {
                        "symhash"
                    },
                    None,
                )
            }
            "jhash" => {
                #[derive(Deserialize)]
                struct JhashBody<'a> {
                    #[serde(borrow, default)]
                    expr: Option<Expr<'a>>,
                }
                let b: JhashBody = map.next_value()?;
                Expr::Hash("jhash", b.expr.map(boxed))
            }
            "set" => match map.next_value::<Expr>()? {
                Expr::List(items) => Expr::Set(items),
                one => Expr::Set(vec![one]),
            },
            "range" => match map.next_value::<Expr>()? {
                Expr::List(mut items) if items.len() == 2 => {
                    let high = items.pop().unwrap_or(Expr::Null);
                    let low = items.pop().unwrap_or(Expr::Null);
                    Expr::Range(boxed(low), boxed(high))
                }
                _ => Expr::Unknown("a range".into()),
            },
            "prefix" => {
                let b: PrefixBody = map.next_value()?;
                Expr::Prefix(boxed(b.addr), b.len)
            }
            "concat" => match map.next_value::<Expr>()? {
                Expr::List(items) => Expr::Concat(items),
                _ => Expr::Unknown("a concatenation".into()),
            },
            "elem" => Expr::Elem(boxed(map.next_value::<ElemBody>()?.val)),
            "map" => {
                let b: MapBody = map.next_value()?;
                Expr::Map(boxed(b.key), boxed(b.data))
            }
            "&" | "|" | "^" | "<<" | ">>" => {
                let op = match &*key {
                    "&" => "&",
                    "|" => "|",
                    "^" => "^",
                    "<<" => "<<",
                    _ => ">>",
                };
                match map.next_value::<Expr>()? {
                    Expr::List(mut items) if items.len() == 2 => {
                        let right = items.pop().unwrap_or(Expr::Null);
                        let left = items.pop().unwrap_or(Expr::Null);
                        Expr::Binop(op, boxed(left), boxed(right))
                    }
                    _ => Expr::Unknown(format!("a {op} expression")),
                }
            }
            "accept" | "drop" | "continue" | "return" | "queue" => {
                map.next_value::<IgnoredAny>()?;
                Expr::Verdict(match &*key {
                    "accept" => JVerdict::Accept,
                    "drop" => JVerdict::Drop,
                    "continue" => JVerdict::Continue,
                    "return" => JVerdict::Return,
                    _ => JVerdict::Queue,
                })
            }
            "jump" => Expr::Verdict(JVerdict::Jump(map.next_value::<Target>()?.target)),
            "goto" => Expr::Verdict(JVerdict::Goto(map.next_value::<Target>()?.target)),
            other => {
                map.next_value::<IgnoredAny>()?;
                Expr::Unknown(other.to_owned())
            }
        };
        // One key only: a second one is a shape this reader does not know.
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Ok(Expr::Unknown(format!("{key} with more keys")));
        }
        Ok(expr)
    }
}

/// One statement of a rule's `expr` array, as nft prints it.
#[derive(Debug)]
pub enum Stmt<'a> {
    Match {
        op: Cow<'a, str>,
        left: Expr<'a>,
        right: Expr<'a>,
    },
    Verdict(JVerdict<'a>),
    Queue {
        bypass: bool,
    },
    Reject {
        kind: Option<Cow<'a, str>>,
        code: Option<Expr<'a>>,
    },
    Nat {
        kind: &'static str,
        body: NatBody<'a>,
    },
    Tproxy(TproxyBody<'a>),
    Vmap {
        key: Expr<'a>,
        data: Expr<'a>,
    },
    Mangle {
        key: Expr<'a>,
        value: Expr<'a>,
    },
    /// Matches or not, depending on what portaudit cannot know (limit, quota, …).
    Condition(String),
    /// Does nothing to the packet's path (counter, log, …).
    Effect(String),
    /// A dynamic set or map updated from the packet path: `@name`, what it adds, and
    /// whether it carries per-element statements (`update @s { ip saddr limit rate
    /// 10/second }`: then whether the rule goes on depends on the set's state).
    Update(String, Option<Expr<'a>>, bool),
    /// A map update nft 1.0.6 prints as text (`"update @m { ip saddr : 0x1 }"`: it has no
    /// JSON for it): the map's name, and the text.
    UpdateText(String, String),
    /// An object map (`counter name tcp dport map { 443 : "c1" }`): a key not in it ends
    /// the rule. What kind of object, and the key.
    ObjectMap(Cow<'a, str>, Expr<'a>),
    Xt {
        kind: Cow<'a, str>,
        name: Cow<'a, str>,
    },
    /// What this reader does not know: what it is.
    Unknown(String),
}

#[derive(Debug, Default, Deserialize)]
pub struct NatBody<'a> {
    #[serde(borrow, default)]
    pub family: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub addr: Option<Expr<'a>>,
    #[serde(borrow, default)]
    pub port: Option<Expr<'a>>,
    #[serde(borrow, default)]
    pub flags: Option<OneOrManyPub<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct TproxyBody<'a> {
    #[serde(borrow, default)]
    pub family: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub addr: Option<Expr<'a>>,
    #[serde(borrow, default)]
    pub port: Option<Expr<'a>>,
}

/// A string or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrManyPub<'a> {
    #[serde(borrow)]
    One(Cow<'a, str>),
    #[serde(borrow)]
    Many(Vec<Cow<'a, str>>),
}

impl OneOrManyPub<'_> {
    pub fn contains(&self, name: &str) -> bool {
        match self {
            OneOrManyPub::One(s) => s == name,
            OneOrManyPub::Many(v) => v.iter().any(|s| s == name),
        }
    }
}

#[derive(Deserialize)]
struct MatchBody<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow)]
    left: Expr<'a>,
    #[serde(borrow)]
    right: Expr<'a>,
}

#[derive(Deserialize)]
struct RejectBody<'a> {
    #[serde(borrow, rename = "type", default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    expr: Option<Expr<'a>>,
}

#[derive(Deserialize)]
struct QueueBody<'a> {
    #[serde(borrow, default)]
    flags: Option<OneOrMany<'a>>,
}

#[derive(Deserialize)]
struct XtBody<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
struct SetStmtBody<'a> {
    /// `set` for a set statement, `map` for a map statement (newer nft).
    #[serde(borrow, default)]
    set: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    map: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    elem: Option<Expr<'a>>,
    #[serde(default)]
    stmt: Option<Vec<IgnoredAny>>,
}

/// An object statement whose name is looked up: `{"map": {"key": …, "data": …}}`.
#[derive(Deserialize)]
struct ObjectMapBody<'a> {
    #[serde(borrow)]
    map: MapBody<'a>,
}

/// The one key of an object and its value, unparsed.
pub fn single(raw: &RawValue) -> Option<(Cow<'_, str>, &RawValue)> {
    #[derive(Deserialize)]
    struct One<'a>(#[serde(borrow)] std::collections::BTreeMap<Cow<'a, str>, &'a RawValue>);
    let One(map) = serde_json::from_str(raw.get()).ok()?;
    if map.len() != 1 {
        return None;
    }
    map.into_iter().next()
}

/// A statement nft printed as text: a set or map update (`add @m { … }`, `update @m { …
/// }`, `delete @m { … }`) is known by its map; anything else is unknown.
fn text_statement(text: &str) -> Stmt<'static> {
    let mut words = text.split_whitespace();
    match (words.next(), words.next()) {
        (Some("add" | "update" | "delete"), Some(name)) if name.starts_with('@') => {
            Stmt::UpdateText(name[1..].to_owned(), text.to_owned())
        }
        _ => Stmt::Unknown(format!(
            "the statement {:?}",
            text.chars()
                .filter(|c| !c.is_control())
                .take(60)
                .collect::<String>()
        )),
    }
}

/// A statement from its raw JSON; what cannot be read is `Unknown`, never an error.
pub fn statement(raw: &RawValue) -> Stmt<'_> {
    let Some((key, body)) = single(raw) else {
        return match serde_json::from_str::<Cow<str>>(raw.get()) {
            Ok(text) => text_statement(&text),
            Err(_) => Stmt::Unknown("an unreadable statement".into()),
        };
    };
    let text = body.get();
    let parse = |what: &str| format!("{what} (malformed)");
    macro_rules! typed {
        ($ty:ty, $what:expr) => {
            match serde_json::from_str::<$ty>(text) {
                Ok(value) => value,
                Err(_) => return Stmt::Unknown(parse($what)),
            }
        };
    }
    match &*key {
        "match" => {
            let m = typed!(MatchBody, "match");
            Stmt::Match {
                op: m.op,
                left: m.left,
                right: m.right,
            }
        }
        "accept" => Stmt::Verdict(JVerdict::Accept),
        "drop" => Stmt::Verdict(JVerdict::Drop),
        "continue" => Stmt::Verdict(JVerdict::Continue),
        "return" => Stmt::Verdict(JVerdict::Return),
        "jump" => Stmt::Verdict(JVerdict::Jump(typed!(Target, "jump").target)),
        "goto" => Stmt::Verdict(JVerdict::Goto(typed!(Target, "goto").target)),
        "queue" => {
            let body = typed!(Option<QueueBody>, "queue");
            let bypass = body
                .and_then(|b| b.flags)
                .is_some_and(|f| f.into_vec().iter().any(|f| f == "bypass"));
            Stmt::Queue { bypass }
        }
        "reject" => match typed!(Option<RejectBody>, "reject") {
            Some(r) => Stmt::Reject {
                kind: r.kind,
                code: r.expr,
            },
            None => Stmt::Reject {
                kind: None,
                code: None,
            },
        },
        "dnat" | "snat" | "masquerade" | "redirect" => {
            let kind = match &*key {
                "dnat" => "dnat",
                "snat" => "snat",
                "masquerade" => "masquerade",
                _ => "redirect",
            };
            let body = typed!(Option<NatBody>, kind).unwrap_or_default();
            Stmt::Nat { kind, body }
        }
        "tproxy" => Stmt::Tproxy(typed!(TproxyBody, "tproxy")),
        "vmap" => {
            let m = typed!(MapBody, "vmap");
            Stmt::Vmap {
                key: m.key,
                data: m.data,
            }
        }
        "mangle" => {
            #[derive(Deserialize)]
            struct Mangle<'a> {
                #[serde(borrow)]
                key: Expr<'a>,
                #[serde(borrow)]
                value: Expr<'a>,
            }
            let m = typed!(Mangle, "mangle");
            Stmt::Mangle {
                key: m.key,
                value: m.value,
            }
        }
        "xt" => {
            let x = typed!(XtBody, "xt");
            Stmt::Xt {
                kind: x.kind,
                name: x.name,
            }
        }
        "set" | "map" => match serde_json::from_str::<SetStmtBody>(text) {
            Ok(SetStmtBody {
                set: Some(name),
                elem,
                stmt,
                ..
            })
            | Ok(SetStmtBody {
                map: Some(name),
                elem,
                stmt,
                ..
            }) => Stmt::Update(
                name.trim_start_matches('@').to_owned(),
                elem,
                stmt.is_some_and(|s| !s.is_empty()),
            ),
            _ => Stmt::Unknown(parse(&key)),
        },
        "counter" | "quota" | "limit" | "ct helper" | "ct timeout" | "ct expectation"
        | "secmark" | "synproxy"
            if text.trim_start().starts_with('{')
                && serde_json::from_str::<ObjectMapBody>(text).is_ok() =>
        {
            match serde_json::from_str::<ObjectMapBody>(text) {
                Ok(body) => Stmt::ObjectMap(key, body.map.key),
                Err(_) => Stmt::Unknown(parse(&key)),
            }
        }
        "counter" => Stmt::Effect(match serde_json::from_str::<Cow<str>>(text) {
            Ok(name) => format!("counter name {name:?}"),
            Err(_) => "counter".into(),
        }),
        "limit" | "quota" | "ct count" | "meter" => Stmt::Condition(key.into_owned()),
        "log" | "last" | "notrack" | "dup" | "flow" | "ct helper" | "ct timeout"
        | "ct expectation" | "secmark" => Stmt::Effect(key.into_owned()),
        // synproxy answers the handshake itself, fwd and others take the packet away.
        other => Stmt::Unknown(other.to_owned()),
    }
}
