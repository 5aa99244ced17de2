//! `[llm] draft_format`: the drafting format reaches the pipeline's configuration, the
//! environment overrides the file, and an unknown format is refused with the key's name.

use salesagent::settings::{SettingsLoader, Source};
use salesagent_core::prompt::DraftFormat;

fn load(
    env: &'static [(&'static str, &'static str)],
    text: &str,
) -> Result<salesagent::settings::LoadedSettings, String> {
    SettingsLoader::from_lookup(move |k| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .text("salesagent.toml", text)
    .load()
    .map_err(|e| e.to_string())
}

#[test]
fn the_draft_format_reaches_the_pipeline() {
    let loaded = load(&[], "").expect("loads");
    assert_eq!(loaded.settings.llm.draft_format, DraftFormat::Auto);
    let config = loaded.settings.pipeline_config().expect("pipeline config");
    assert_eq!(config.draft_format, DraftFormat::Auto);

    let loaded = load(&[], "[llm]\ndraft_format = \"prose\"\n").expect("loads");
    assert_eq!(loaded.source_of("llm.draft_format"), Source::File);
    let config = loaded.settings.pipeline_config().expect("pipeline config");
    assert_eq!(config.draft_format, DraftFormat::Prose);

    let loaded = load(
        &[("SALESAGENT_DRAFT_FORMAT", "json")],
        "[llm]\ndraft_format = \"prose\"\n",
    )
    .expect("loads");
    assert_eq!(
        loaded.source_of("llm.draft_format"),
        Source::Env("SALESAGENT_DRAFT_FORMAT".to_owned())
    );
    assert_eq!(loaded.settings.llm.draft_format, DraftFormat::Json);
}

#[test]
fn an_unknown_format_is_refused_with_its_key() {
    let e = load(&[], "[llm]\ndraft_format = \"yaml\"\n").unwrap_err();
    assert!(e.contains("draft_format"), "{e}");
    let e = load(&[], "[llm]\nformat = \"prose\"\n").unwrap_err();
    assert!(e.contains("format"), "{e}");
}
