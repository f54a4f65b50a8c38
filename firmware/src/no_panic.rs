//! The panic handler of every firmware binary: the link-time proof that no panic path is
//! left. It calls a function defined nowhere, so a binary links only if the optimiser removed
//! every call to it. With `--features find-panics` it loops instead, so the binary links and
//! `arm-none-eabi-objdump -dC` can show who still calls `core::panicking::*`.
#![allow(unsafe_code)]

#[cfg(not(feature = "find-panics"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    unsafe extern "C" {
        /// Defined nowhere: referencing it fails the link.
        fn umqtt_firmware_a_panic_path_survived_optimisation() -> !;
    }
    // SAFETY: never runs — the binary only links when this call was optimised away.
    unsafe { umqtt_firmware_a_panic_path_survived_optimisation() }
}

#[cfg(feature = "find-panics")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::bkpt();
    }
}
