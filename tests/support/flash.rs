//! A NOR flash in RAM (embedded-storage's `NorFlash`) whose power can be cut: after
//! `power.cut_after(n)` it writes `n` more bytes and then fails, like a write interrupted by a
//! reset (a torn snapshot). Writes only clear bits, as on real NOR flash. `refuse_next()`
//! makes the next write fail at once, like a worn or locked flash.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};

/// Whether the device still has power, shared by its flash and its network link.
#[derive(Clone, Default)]
pub struct Power {
    pub dead: Rc<Cell<bool>>,
    /// Flash bytes that still get written before the power goes (None: unlimited).
    budget: Rc<Cell<Option<usize>>>,
}

impl Power {
    pub fn is_dead(&self) -> bool {
        self.dead.get()
    }

    pub fn cut(&self) {
        self.dead.set(true);
    }

    /// The power goes after `n` more flash bytes.
    pub fn cut_after(&self, n: usize) {
        self.budget.set(Some(n));
    }

    /// Power back (a new life; the flash keeps its contents).
    pub fn restore(&self) {
        self.dead.set(false);
        self.budget.set(None);
    }
}

#[derive(Clone)]
pub struct RamFlash {
    pub mem: Rc<RefCell<Vec<u8>>>,
    pub power: Power,
    refuse: Rc<Cell<bool>>,
}

impl RamFlash {
    pub fn new(size: usize, power: Power) -> RamFlash {
        RamFlash {
            mem: Rc::new(RefCell::new(vec![0xFF; size])),
            power,
            refuse: Rc::default(),
        }
    }

    /// The next write fails (the power stays on).
    pub fn refuse_next(&self) {
        self.refuse.set(true);
    }
}

impl ErrorType for RamFlash {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for RamFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), NorFlashErrorKind> {
        let mem = self.mem.borrow();
        let at = offset as usize;
        let src = mem
            .get(at..at + bytes.len())
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.borrow().len()
    }
}

impl NorFlash for RamFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 256;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), NorFlashErrorKind> {
        if self.power.is_dead() {
            return Err(NorFlashErrorKind::Other);
        }
        let mut mem = self.mem.borrow_mut();
        let range = mem
            .get_mut(from as usize..to as usize)
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        range.fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), NorFlashErrorKind> {
        if !(offset as usize).is_multiple_of(Self::WRITE_SIZE)
            || !bytes.len().is_multiple_of(Self::WRITE_SIZE)
        {
            return Err(NorFlashErrorKind::NotAligned);
        }
        if self.refuse.replace(false) {
            return Err(NorFlashErrorKind::Other);
        }
        let mut mem = self.mem.borrow_mut();
        for (i, b) in bytes.iter().enumerate() {
            if self.power.is_dead() {
                return Err(NorFlashErrorKind::Other);
            }
            if let Some(n) = self.power.budget.get() {
                if n == 0 {
                    self.power.cut();
                    return Err(NorFlashErrorKind::Other);
                }
                self.power.budget.set(Some(n - 1));
            }
            let cell = mem
                .get_mut(offset as usize + i)
                .ok_or(NorFlashErrorKind::OutOfBounds)?;
            *cell &= *b;
        }
        Ok(())
    }
}
