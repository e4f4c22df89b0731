use sha2::Digest;
use std::time::Instant;
fn main() {
    let p = std::env::args().nth(1).unwrap();
    let b = std::fs::read(&p).unwrap();
    let t = Instant::now(); let h = sha2::Sha512::digest(&b); println!("sha512 {:?} {}", t.elapsed(), h[0]);
    let lines: Vec<&[u8]> = b[..b.len()-1].split(|&c| c == b'\n').collect();
    let t = Instant::now(); let mut x = 0u8; for l in &lines { x ^= sha2::Sha256::digest(l)[0]; } println!("sha256 lines {:?} {x}", t.elapsed());
    let t = Instant::now(); let mut n = 0; for l in &lines { let v: serde_json::Value = serde_json::from_slice(l).unwrap(); n += v.as_object().unwrap().len(); } println!("Value parse {:?} {n}", t.elapsed());
    let t = Instant::now(); let r = breakglass::journal::check_chain(&b); println!("check_chain {:?} {}", t.elapsed(), r.entries);
    let t = Instant::now(); let _ = breakglass::verify::verify(std::path::Path::new(&p).parent().unwrap(), &Default::default(), None).unwrap(); println!("verify {:?}", t.elapsed());
}
