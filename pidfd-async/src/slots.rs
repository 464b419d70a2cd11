//! [`Slots`]: the slab behind the runtime's pidfd hub and each [`ExitSet`](crate::ExitSet),
//! whose keys carry a generation, so a key (or epoll event data) of a vacated entry never
//! reaches a later occupant of its slot: a slot's generations are never reused (a slot whose
//! generation would wrap is retired), so the key packs whole into the 64-bit epoll data.

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
    /// Bumped each time the slot is vacated; never wraps (a slot vacated under `u32::MAX` is
    /// retired), so no two occupants of a slot ever have the same key.
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
        self.len -= 1;
        // After the last generation a key can carry, the next would be one handed out before,
        // under which a stale key (or an epoll item that outlived its entry, as one does while
        // a duplicate of its fd is open) would name the new occupant. Such a slot is retired:
        // it stays vacant for good, and the slab grows by a slot instead (one per 2^32 reuses
        // of a slot).
        if let Some(next) = slot.generation.checked_add(1) {
            slot.generation = next;
            self.free.push(key.index);
        }
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

    /// Sets the generation of slot `index` (vacant or not), as if it had been vacated that many
    /// times.
    #[cfg(test)]
    fn set_generation(&mut self, index: u32, generation: u32) {
        self.slots[index as usize].generation = generation;
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

    /// A slot vacated under the last generation its key can carry: reusing it would hand out
    /// generation 0 again, under which a stale key (or an epoll item still holding its packed
    /// data) named an earlier occupant. It is never reused.
    #[test]
    fn a_stale_key_never_matches_after_the_generation_wraps() {
        let mut s = Slots::new();
        let first = s.insert_with(|_| Ok("first")).unwrap();
        let stale = first.pack();
        assert_eq!(s.remove(first), Some("first"));
        // 2^32 - 1 more reuses of the slot, skipped.
        s.set_generation(first.index, u32::MAX);
        let last = s.insert_with(|_| Ok("last")).unwrap();
        assert_eq!((last.index, last.generation), (first.index, u32::MAX), "the same slot, its last generation");
        assert_eq!(s.get(first), None);
        assert_eq!(s.remove(last), Some("last"));
        for i in 0..3 {
            let next = s.insert_with(|_| Ok("next")).unwrap();
            assert_ne!(next, first, "round {i}: the first occupant's key names the new one");
            assert_ne!(next.pack(), stale, "round {i}: the first occupant's epoll data names the new one");
            assert_eq!(s.get(first), None, "round {i}");
            assert_eq!(s.get(Key::unpack(stale)), None, "round {i}");
            assert_eq!(s.get(last), None, "round {i}");
            assert_eq!(s.get(next), Some(&"next"));
            assert_eq!(s.remove(next), Some("next"));
        }
        assert_eq!(s.remove(first), None);
        assert_eq!(s.len(), 0);
    }
}
