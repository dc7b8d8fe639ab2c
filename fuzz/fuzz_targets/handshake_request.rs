//! The server's reading of a client's opening handshake, fed as it arrives (the caller keeps
//! what came and reads it all again each time, as `server/upgrade.py` does).
#![no_main]
use fastfeed_core::ws::{read_upgrade_request, RequestHead, MAX_REQUEST_HEAD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((config, request)) = fastfeed_fuzz::split_config(data) else {
        return;
    };
    let step = fastfeed_fuzz::chunk_size(config);
    let mut received = 0;
    while received < request.len() {
        received = (received + step).min(request.len());
        match read_upgrade_request(&request[..received]) {
            Ok(RequestHead::Partial) => assert!(received <= MAX_REQUEST_HEAD),
            Ok(RequestHead::Complete(upgrade, consumed)) => {
                assert!(consumed <= received && consumed <= MAX_REQUEST_HEAD);
                assert!(request[..consumed].ends_with(b"\n"));
                assert_eq!(upgrade.key.len(), 24);
                // What follows the head does not change it.
                assert_eq!(
                    read_upgrade_request(&request[..consumed]),
                    Ok(RequestHead::Complete(upgrade, consumed))
                );
                return;
            }
            Err(refusal) => {
                assert!(
                    matches!(refusal.status, 400 | 405 | 426 | 431),
                    "{refusal:?}"
                );
                assert!(!refusal.reason.is_empty());
                return;
            }
        }
    }
});
