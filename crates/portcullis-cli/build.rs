//! Links the `portcullis` binary with `startup-order.ld` (Linux, GNU toolchains): the code that
//! start-up and the first requests run sits together at the front of `.text`, which keeps idle
//! RSS low (the kernel maps 64 KiB around every touched page). Regenerate the script with
//! `scripts/startup-order`; set PORTCULLIS_NO_STARTUP_ORDER=1 to link without it.
fn main() {
    println!("cargo:rerun-if-changed=startup-order.ld");
    println!("cargo:rerun-if-env-changed=PORTCULLIS_NO_STARTUP_ORDER");
    let linux_gnu =
        std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    let script = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("startup-order.ld");
    if linux_gnu && script.exists() && std::env::var_os("PORTCULLIS_NO_STARTUP_ORDER").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
