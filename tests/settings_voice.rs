//! `sender.voice_profiles`: the per-sender voice profile reaches the pipeline's
//! configuration, and a key that is no address is refused with its name.

use salesagent::settings::SettingsLoader;
use salesagent_core::model::EmailAddress;

fn load(text: &str) -> Result<salesagent::settings::LoadedSettings, String> {
    SettingsLoader::from_lookup(|_| None)
        .text("salesagent.toml", text)
        .load()
        .map_err(|e| e.to_string())
}

#[test]
fn each_sender_gets_the_profile_the_settings_name() {
    let loaded = load(
        "[sender]\nemail = \"alice@acme-robotics.com\"\nvoice_profile = \"default\"\n\
         voice_profiles = [{ sender = \"Alice@Acme-Robotics.com\", profile = \"alice-formal\" }, \
         { sender = \"bob@acme-robotics.com\", profile = \"bob\" }]\n",
    )
    .expect("loads");
    let config = loaded.settings.pipeline_config().expect("pipeline config");
    let alice = EmailAddress::parse("alice@acme-robotics.com").expect("address");
    let bob = EmailAddress::parse("bob@acme-robotics.com").expect("address");
    let carol = EmailAddress::parse("carol@acme-robotics.com").expect("address");
    assert_eq!(config.voice_profile_for(&alice), Some("alice-formal"));
    assert_eq!(config.voice_profile_for(&bob), Some("bob"));
    // Not listed: the pipeline uses `voice_profile` (or the sender's latest profile).
    assert_eq!(config.voice_profile_for(&carol), None);
    assert_eq!(config.voice_profile, "default");
}

#[test]
fn a_key_that_is_no_address_or_an_empty_profile_is_refused() {
    let e =
        load("[sender]\nvoice_profiles = [{ sender = \"alice\", profile = \"alice-formal\" }]\n")
            .unwrap_err();
    assert!(e.contains("voice_profiles"), "{e}");
    assert!(e.contains("not an e-mail address"), "{e}");
    let e = load("[sender]\nvoice_profiles = [{ sender = \"alice@acme.com\", profile = \" \" }]\n")
        .unwrap_err();
    assert!(e.contains("profile name"), "{e}");
}
