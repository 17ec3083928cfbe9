//! Link the supervisor without PIE. One supervisor runs per pod for the pod's
//! whole life; as a PIE, the dynamic loader relocates its read-only data
//! (vtables, `.data.rel.ro`, the GOT) into private pages of every process,
//! some hundreds of kB per pod. Linked at a fixed address those pages stay
//! shared page cache. The price is that the supervisor's own code is not
//! placed at a random address (its heap, stack and libraries still are);
//! `podctl` itself, short-lived, stays a PIE.
fn main() {
    println!("cargo:rustc-link-arg-bin=podctl-supervisor=-no-pie");
}
