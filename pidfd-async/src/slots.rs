//! [`Slots`]: the slab behind the runtime's pidfd hub and each [`ExitSet`](crate::ExitSet),
//! whose keys carry a generation, so a key (or epoll event data) of a vacated entry never
//! reaches the next occupant of its slot.

use std::io;

/// Names one entry of a [`Slots`]: its slot and the slot's generation when it was filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// As epoll event data.
    pub(crate) fn pack(self) -> u64 {
        u64::from(self.generation) << 32 | u64::from(self.index)
    }

    /// From epoll event data.
    pub(crate) fn unpack(data: u64) -> Key {
        Key { index: data as u32, generation: (data >> 32) as u32 }
    }
}

pub(crate) struct Slots<T> {
    slots: Vec<Slot<T>>,
    /// Indices of vacant slots.
    free: Vec<u32>,
    len: usize,
}

struct Slot<T> {
    /// Bumped each time the slot is vacated.
    generation: u32,
    value: Option<T>,
}

impl<T> Slots<T> {
    pub(crate) const fn new() -> Slots<T> {
        Slots { slots: Vec::new(), free: Vec::new(), len: 0 }
    }

    /// Fills a vacant slot with what `make` returns for the slot's key (for example after
    /// adding an fd to epoll with the key as data); if `make` fails, the slot stays vacant.
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(Key) -> io::Result<T>) -> io::Result<Key> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
                self.slots.push(Slot { generation: 0, value: None });
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        let key = Key { index, generation: slot.generation };
        match make(key) {
            Ok(value) => {
                slot.value = Some(value);
                self.len += 1;
                Ok(key)
            }
            Err(e) => {
                self.free.push(index);
                Err(e)
            }
        }
    }

    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slots.get(key.index as usize)?;
        slot.value.as_ref().filter(|_| slot.generation == key.generation)
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        slot.value.as_mut().filter(|_| slot.generation == key.generation)
    }

    /// Vacates `key`'s slot, returning what it held; `None` if `key` was vacated already.
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    /// How many slots are filled.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Every filled slot, in no particular order. O(capacity).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Key, &T)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, slot)| {
            slot.value.as_ref().map(|v| (Key { index: i as u32, generation: slot.generation }, v))
        })
    }

    /// Every filled slot's value, mutably. O(capacity).
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> + '_ {
        self.slots.iter_mut().filter_map(|slot| slot.value.as_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vacated_key_never_reaches_the_next_occupant() {
        let mut s = Slots::new();
        let a = s.insert_with(|_| Ok("a")).unwrap();
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert_with(|_| Ok("b")).unwrap();
        assert_eq!(Key::unpack(b.pack()), b);
        assert_ne!(a, b, "the slot is reused under a new generation");
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert!(s.insert_with(|_| Err::<&str, _>(io::Error::other("no"))).is_err());
        assert_eq!(s.len(), 1);
        assert_eq!(s.iter().map(|(k, v)| (k, *v)).collect::<Vec<_>>(), [(b, "b")]);
    }
}
