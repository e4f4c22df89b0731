//! Index types: a custodian's place in the roster and a check-in slot are different numbers, and
//! the compiler keeps them apart (a slot where a roster index belongs was a bug waiting to happen:
//! the first custodian to check in is slot 0 whatever their place in the roster).

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

/// An index type of an [`IxVec`].
pub trait Idx: Copy + Eq + std::fmt::Debug {
    fn new(i: usize) -> Self;
    fn index(self) -> usize;
}

/// A custodian's place in the roster ([`super::Ceremony::roster`]), counted from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RosterIx(pub usize);

/// A check-in slot ([`super::Ceremony::checked`]): the first custodian to check in this session is
/// slot 0, whoever they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotIx(pub usize);

impl Idx for RosterIx {
    fn new(i: usize) -> Self {
        Self(i)
    }
    fn index(self) -> usize {
        self.0
    }
}

impl Idx for SlotIx {
    fn new(i: usize) -> Self {
        Self(i)
    }
    fn index(self) -> usize {
        self.0
    }
}

impl SlotIx {
    /// The slot as people count it: "Custodian 1".
    pub fn number(self) -> usize {
        self.0 + 1
    }
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

/// A list indexed only by its own index type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IxVec<I, T> {
    items: Vec<T>,
    ix: PhantomData<fn() -> I>,
}

impl<I: Idx, T> IxVec<I, T> {
    pub fn new() -> Self {
        Self { items: vec![], ix: PhantomData }
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }
    /// Each item with its index.
    pub fn enumerate(&self) -> impl Iterator<Item = (I, &T)> {
        self.items.iter().enumerate().map(|(i, t)| (I::new(i), t))
    }
    /// Every index, in order.
    pub(crate) fn indices(&self) -> impl Iterator<Item = I> + use<I, T> {
        (0..self.items.len()).map(I::new)
    }
    /// Whether `i` is an index of this list.
    pub fn has(&self, i: I) -> bool {
        i.index() < self.items.len()
    }
    pub fn first(&self) -> Option<&T> {
        self.items.first()
    }
    pub fn get(&self, i: I) -> Option<&T> {
        self.items.get(i.index())
    }
    pub fn push(&mut self, t: T) -> I {
        self.items.push(t);
        I::new(self.items.len() - 1)
    }
    /// The index the next [`IxVec::push`] gets.
    pub(crate) fn next_index(&self) -> I {
        I::new(self.items.len())
    }
    /// The index of the first item that `f` accepts.
    pub fn position(&self, f: impl FnMut(&T) -> bool) -> Option<I> {
        self.items.iter().position(f).map(I::new)
    }
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }
}

impl<I: Idx, T> Default for IxVec<I, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I, T> From<Vec<T>> for IxVec<I, T> {
    fn from(items: Vec<T>) -> Self {
        Self { items, ix: PhantomData }
    }
}

impl<I: Idx, T> Index<I> for IxVec<I, T> {
    type Output = T;
    fn index(&self, i: I) -> &T {
        &self.items[i.index()]
    }
}

impl<I: Idx, T> IndexMut<I> for IxVec<I, T> {
    fn index_mut(&mut self, i: I) -> &mut T {
        &mut self.items[i.index()]
    }
}

impl<'a, I: Idx, T> IntoIterator for &'a IxVec<I, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}
