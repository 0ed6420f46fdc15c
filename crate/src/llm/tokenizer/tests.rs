use super::*;
use crate::gguf::{writer, Value};
use crate::testutil::spm_vocab;

fn gguf_with(md: Vec<(String, Value)>) -> Gguf {
    let mut all = vec![("general.architecture".to_string(), Value::Str("llama".into()))];
    all.extend(md);
    Gguf::parse(&writer::write(&all, &[])).unwrap()
}

fn spm(add_space_prefix: bool) -> Tokenizer {
    let (toks, scores, types) = spm_vocab();
    Tokenizer::from_gguf(&gguf_with(vec![
        ("tokenizer.ggml.model".into(), Value::Str("llama".into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(Array::Str(toks))),
        ("tokenizer.ggml.scores".into(), Value::Array(Array::F32(scores))),
        ("tokenizer.ggml.token_type".into(), Value::Array(Array::Int(types.into()))),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.add_space_prefix".into(), Value::Bool(add_space_prefix)),
    ]))
    .unwrap()
}

fn texts(t: &Tokenizer, ids: &[u32]) -> Vec<String> {
    ids.iter().map(|&i| t.token_text(i).unwrap().to_string()).collect()
}

#[test]
fn spm_merges_by_score_with_space_prefix() {
    let t = spm(true);
    assert_eq!(texts(&t, &t.encode("hello ab", false)), ["▁hello", "▁ab"]);
    let t = spm(false);
    assert_eq!(texts(&t, &t.encode("hello ab", false)), ["hello", "▁ab"]);
}

#[test]
fn spm_falls_back_to_bytes_and_round_trips() {
    let t = spm(false);
    let ids = t.encode("aé", false);
    // 'é' is not in the vocabulary: two byte tokens.
    assert_eq!(texts(&t, &ids), ["a", "<0xC3>", "<0xA9>"]);
    assert_eq!(t.decode(&ids), "aé");
    assert_eq!(t.decode(&t.encode("hello ab", false)), "hello ab");
}

#[test]
fn special_text_is_plain_unless_asked() {
    let t = spm(false);
    let plain = t.encode("a<|im_start|>b", false);
    assert!(!plain.contains(&3), "{:?}", texts(&t, &plain));
    let special = t.encode("a<|im_start|>b", true);
    assert_eq!(texts(&t, &special), ["a", "<|im_start|>", "b"]);
    assert!(t.is_control(3));
    assert!(t.is_eog(2) && t.is_eog(4), "EOS and <|im_end|> end a turn");
}

#[test]
fn empty_text_gives_no_tokens_and_bos_is_added_on_request() {
    let t = spm(true);
    assert!(t.encode("", false).is_empty());
    assert_eq!(t.encode_with_specials("a", false)[0], 1);
}

fn bpe() -> Tokenizer {
    // Byte-level vocabulary: all 256 byte characters, then merged pieces.
    let chars = byte_chars();
    let mut toks: Vec<String> = vec!["<|endoftext|>".into(), "<|im_start|>".into(), "<|im_end|>".into()];
    let mut types = vec![3i64, 3, 3];
    for c in chars.iter() {
        toks.push(c.to_string());
        types.push(1);
    }
    let merges = ["Ġ t", "h e", "Ġt he", "l l", "ll o", "he llo", "Ġ 1"];
    for m in merges {
        toks.push(m.replace(' ', ""));
        types.push(1);
    }
    let merges = merges.iter().map(|m| m.to_string()).collect();
    Tokenizer::from_gguf(&gguf_with(vec![
        ("tokenizer.ggml.model".into(), Value::Str("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::Str("smollm".into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(Array::Str(toks))),
        ("tokenizer.ggml.token_type".into(), Value::Array(Array::Int(types.into()))),
        ("tokenizer.ggml.merges".into(), Value::Array(Array::Str(merges))),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(0)),
    ]))
    .unwrap()
}

#[test]
fn bpe_pre_tokenizes_and_merges_by_rank() {
    let t = bpe();
    assert_eq!(texts(&t, &t.encode("hello the", false)), ["hello", "Ġthe"]);
    // smollm splits digits one by one, so " 12" is "Ġ", "1", "2" (the " 1" merge cannot apply across the split).
    assert_eq!(texts(&t, &t.encode(" 12", false)), ["Ġ", "1", "2"]);
    assert_eq!(t.decode(&t.encode("héllo\n  x", false)), "héllo\n  x");
    assert!(!t.add_bos);
}

#[test]
fn bpe_special_tokens_and_unsupported_pre_tokenizer() {
    let t = bpe();
    let ids = t.encode("<|im_start|>hello", true);
    assert_eq!(texts(&t, &ids), ["<|im_start|>", "hello"]);
    assert_eq!(t.piece(ids[0]), b"", "control tokens print nothing");
    let g = gguf_with(vec![
        ("tokenizer.ggml.model".into(), Value::Str("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::Str("qwen9".into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(Array::Str(vec!["a".into()]))),
        ("tokenizer.ggml.merges".into(), Value::Array(Array::Str(vec![]))),
    ]);
    let e = Tokenizer::from_gguf(&g).err().unwrap().to_string();
    assert!(e.contains("pre-tokenizer `qwen9` is not supported"), "{e}");
}

#[test]
fn text_stream_holds_back_split_characters() {
    let mut s = TextStream::default();
    let bytes = "é🙂".as_bytes();
    assert_eq!(s.push(&bytes[..1]), "");
    assert_eq!(s.push(&bytes[1..3]), "é");
    assert_eq!(s.push(&bytes[3..5]), "");
    assert_eq!(s.push(&bytes[5..]), "🙂");
    assert_eq!(s.push(&[0xFF, b'a']), "\u{FFFD}a");
    assert_eq!(s.push(&[0xE2]), "");
    assert_eq!(s.finish(), "\u{FFFD}");
}
