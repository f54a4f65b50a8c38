//! The baseline for the footprint report: the same runtime, vector table, semihosting exit
//! and panic handler as `codec` and `client`, and no umqtt. Sizes are reported over it.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{self, EXIT_SUCCESS};
// The device's interrupt vectors (STM32F4; QEMU's netduinoplus2 is an STM32F405).
use stm32f4xx_hal as _;
// The panic handler: the no-panic proof (firmware/src/no_panic.rs).
use umqtt_firmware as _;

#[entry]
fn main() -> ! {
    debug::exit(EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}
