//! The tokenizer fingerprint: plain data that a catalogue's token trie stores and the engine
//! compares with its model's, so that a trie is never walked with another tokenizer's ids.

/// Identifies a tokenizer: two tokenizers with the same fingerprint split every text alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenizerFingerprint {
    /// Hash over the vocabulary, its token types and the tokenization of probe texts.
    pub hash: u64,
    /// Number of tokens.
    pub vocab_size: u32,
    /// Human-readable name (the model's `general.name`), for messages only.
    pub name: String,
}

impl TokenizerFingerprint {
    /// Whether `other` is the same tokenizer: hash and size agree (the name is for messages
    /// only; a catalogue's token trie keeps it cut to 31 bytes).
    pub fn same_tokenizer(&self, other: &TokenizerFingerprint) -> bool {
        self.hash == other.hash && self.vocab_size == other.vocab_size
    }
}

impl std::fmt::Display for TokenizerFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} tokens, fingerprint {:016x})",
            self.name, self.vocab_size, self.hash
        )
    }
}
