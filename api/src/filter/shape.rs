//! `Shape`: the type of a record a filter runs against, as go-bexpr derives it from a Go
//! struct.
//!
//! go-bexpr v0.1.2 checks an expression against the Go type it will filter before running
//! anything: a selector must name fields that exist (names match exactly, case included),
//! the operator must suit the selected field's type, and the value must convert to that
//! type. Our records are JSON, which cannot tell a struct from a map or an empty list of
//! strings from an empty list of structs, so each filtered record type is described by a
//! `Shape` (see `records`). The rules it encodes are go-bexpr's:
//!
//! | shape                 | operators                                       | further selectors |
//! |-----------------------|-------------------------------------------------|-------------------|
//! | `Text`                | `==`, `!=`, `in`, `not in`, `matches`, `not matches` | none         |
//! | `Boolean`, `Integer`  | `==`, `!=`                                      | none              |
//! | `List` of a primitive | `in`, `not in`, `is empty`, `is not empty`      | none              |
//! | `List` of records     | `is empty`, `is not empty`                      | the record's fields, tested on every element (any may match) |
//! | `Map` (string keys)   | `is empty`, `is not empty`, `in`, `not in` (keys) | any key, then the value's |
//! | `Record`              | none                                            | its fields        |

use crate::filter::expression::Operator;

/// The type of a value in a filtered record.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// A Go string: JSON strings.
    Text,
    /// A Go bool.
    Boolean,
    /// A Go int (64 bits).
    Integer,
    /// A Go slice.
    List(&'static Shape),
    /// A Go map with string keys.
    Map(&'static Shape),
    /// A Go struct: only the listed fields are selectable.
    Record(&'static [Field]),
}

/// A selectable struct field: its name as selectors and our JSON both spell it.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub shape: Shape,
}

impl Field {
    pub const fn new(name: &'static str, shape: Shape) -> Field {
        Field { name, shape }
    }
}

/// What may follow a value of some shape in a selector.
#[derive(Clone, Copy, Debug)]
pub enum Children {
    /// Nothing: the selector must end here.
    None,
    /// These fields, by exact name.
    Fields(&'static [Field]),
    /// Any map key, whose value has this shape.
    Any(&'static Shape),
}

impl Shape {
    pub fn is_primitive(&self) -> bool {
        matches!(self, Shape::Text | Shape::Boolean | Shape::Integer)
    }

    /// What may follow this value in a selector. A list is transparent: selecting through
    /// it selects in each element.
    pub fn children(&self) -> Children {
        match self {
            Shape::Record(fields) => Children::Fields(fields),
            Shape::Map(value) => Children::Any(value),
            Shape::List(element) if !element.is_primitive() => element.children(),
            _ => Children::None,
        }
    }

    /// The operators a selector ending at this value may use.
    pub fn operators(&self) -> &'static [Operator] {
        use Operator::*;
        match self {
            Shape::Text => &[Equal, NotEqual, In, NotIn, Matches, NotMatches],
            Shape::Boolean | Shape::Integer => &[Equal, NotEqual],
            Shape::List(element) if element.is_primitive() => &[In, NotIn, IsEmpty, IsNotEmpty],
            Shape::List(_) => &[IsEmpty, IsNotEmpty],
            Shape::Map(_) => &[IsEmpty, IsNotEmpty, In, NotIn],
            Shape::Record(_) => &[],
        }
    }

    /// The type a value compared with this one converts to: the element's for a list of
    /// primitives, a key (text) for a map, and nothing (kept as written) otherwise.
    pub fn operand(&self) -> Option<Shape> {
        match self {
            Shape::Text | Shape::Boolean | Shape::Integer => Some(*self),
            Shape::List(element) if element.is_primitive() => Some(**element),
            Shape::Map(_) => Some(Shape::Text),
            Shape::List(_) | Shape::Record(_) => None,
        }
    }
}
