"""Test strings for the tokenizer: hand-picked edge cases plus seeded random ones."""
import random
import string

LATIN = [
    "café", "naïve façade", "Ærøskøbing", "Straße", "Crème brûlée à la carte", "ÀÉÎÕÜ ñ Ñ",
    "e\u0301 (decomposed é)", "Łódź", "İstanbul ığdır", "Dvořák", "smörgåsbord",
    "Ðóþ", "ǅ titlecase", "ﬁ ligature", "Ｆｕｌｌｗｉｄｔｈ",
]
SCRIPTS = [
    "Καλημέρα κόσμε", "ΑΒΓΔ αβγδ ς", "Привет, мир!", "Ёлка съешь ещё", "Україна ґ є і ї",
    "مرحبا بالعالم", "السَّلَامُ عَلَيْكُمْ", "שלום עולם", "בְּרֵאשִׁית", "你好，世界", "中文字符测试",
    "日本語のテキスト", "カタカナ ひらがな", "한국어 텍스트", "नमस्ते दुनिया", "हिन्दी में लिखा",
    "สวัสดีชาวโลก", "ภาษาไทย", "தமிழ் மொழி", "ქართული", "Հայերեն", "አማርኛ", "ᚠᚢᚦᚨᚱᚲ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math", "𐍈 gothic", "ꙮ", "ㄅㄆㄇ", "ᄀᄁ jamo",
]
EMOJI = [
    "👍", "👍🏽", "👍🏿 ok", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷🇯🇵", "1️⃣", "❤️", "🤦🏻‍♂️ facepalm",
    "emoji 😀😃😄 run", "a😀b", " 😀", "🧑🏾‍💻 coding", "☕️ coffee", "✨sparkle✨",
]
WHITESPACE = [
    " ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n", " \n ", "\t\t",
    "a  b", "a   b", "a \n b", "a\n\nb", "a\t b", "a \tb", "abc   ", "abc\n", "   abc",
    "\u00a0", "a\u00a0b", "a\u00a0\u00a0b", "\u00a0x", "x \u00a0 y", "\u2003em\u2003space",
    "\u3000ideographic", "\x0b\x0c", "\x1c\x1d\x1e\x1f", "a\x1cb", "\x85", "a\u2028b\u2029c",
    "\u200b zero width", "\ufeffBOM", " \t\n\r\x0b\x0c", "x\n \ny", "end \n", "  \n  x",
    "mixed \t \n \r\n  words  ", "\u1680ogham\u202fnarrow\u205f", "  leading and trailing  ",
]
CONTRACTIONS = [
    "I'm", "you're", "they've", "we'll", "he'd", "it's", "don't", "can't", "IT'S", "I'M",
    "WE'LL", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "''s", "' s", "'S", "rock'n'roll",
    "she’s (curly)", "'tis", "o'clock", "y'all'd've", "it's's", "'", "''", "a' b", "x'", "' ",
    "He said 'hello'", "'reallly' 'velvet' 'lloyd' 'done'",
]
NUMBERS = [
    "0", "7", "42", "123", "1234", "12345", "1,234,567", "3.14159", "1e10", "0x1F", "-17",
    "+3.5e-7", "10^6", "1 000 000", "1_000_000", "١٢٣", "۱۲۳", "०१२", "²³", "Ⅻ", "½ ¾",
    "१२३४", "2024-01-15", "12:30:45", "$1,000.00", "€3,50", "99%", "#1", "v2.0.1", "3rd",
    "A1B2C3", "x86_64", "1st 2nd", "٣ apples", " 42", "  42", "\n42",
]
PUNCT = [
    "!!!", "...", "?!?!", "--->", "(*&^%$#@!)", "\"quoted\"", "«guillemets»", "—–-",
    "…", "[]{}()<>", "@user #tag", "a.b.c", "end.", ",,,", ";;", "¿Qué?", "¡Hola!", "«»„“",
    "• bullet", "→ ← ↑ ↓", "© ® ™", "§ ¶ †", "~`|\\", "a--b", " ...", "  !!", "\t;",
]
CODE = [
    "def f(x):\n    return x * 2\n",
    "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}",
    '{"key": "value", "n": [1, 2, 3]}',
    "<div class=\"main\"><p>Hello</p></div>",
    "SELECT * FROM users WHERE id = 42;",
    "if x != y and not z:\n        pass",
    "#include <stdio.h>\nint main(void) { return 0; }",
    "x = lambda a, b: a ** b  # power",
    "    indented\n        more\n    less",
    "print(f\"{name!r:>10}\")",
    "const re = /\\s+$/g;",
    "$ ls -la | grep '.py' > out.txt",
    "git commit -m \"fix: don't crash\"",
    "https://example.com/path?q=1&r=two#frag",
    "a_b_c = snake_case; camelCase; PascalCase; SCREAMING_CASE",
]
LONG = [
    "antidisestablishmentarianism", "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "Donaudampfschifffahrtsgesellschaftskapitän", "x" * 300, "ab" * 150, "7" * 120,
    "abc" * 40 + " " + "def" * 40, "!" * 64, " " * 100, "\n" * 50, "na" * 20 + " batman",
    "The quick brown fox jumps over the lazy dog. " * 5,
]
MISC = [
    "", "Hello world", "Hello, world!", "hello", " hello", "HELLO", "Hello World",
    "The quick brown fox jumps over the lazy dog.", "\x00", "\x7f", "\x1b[0m", "a\x00b",
    "\ufffd", "\U0010fffd", "\ue000 private", "Ａ", "x\u0301\u0302", "\u0301", "<|endoftext|>",
    "<|endoftext|> after", "tab\tseparated\tvalues", "ÅÅÅÅ", "ñññ", "日日日日日日",
]

_POOL = (
    "abcxyzABCXYZ0189 \t\n'.,!?-_()"
    "éüßñçÆøåłžš" "αβγδΩ" "абвгдЖЯ" "عربي" "עברית" "中文字日本" "あいうアイウ" "한글"
    "नमस्ते" "ไทย" "٠١٢" "²½Ⅷ" "\u00a0\u3000\u2003\u2028\x85" "😀👍🏽‍♂️🇫🇷" "—…«»“”€$%"
)

_WORDS = ["the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for",
          "on", "are", "as", "with", "his", "they", "I", "at", "be", "this", "have", "from",
          "or", "one", "had", "by", "word", "but", "not", "what", "all", "were", "we", "when",
          "your", "can", "said", "there", "use", "an", "each", "which", "she", "do", "how",
          "their", "if", "will", "up", "other", "about", "out", "many", "then", "them",
          "Thou", "art", "wherefore", "Romeo", "don't", "it's", "we'll", "1984", "3.5"]


def random_strings(seed=1234):
    rng = random.Random(seed)
    out = []
    printable = string.printable
    for _ in range(80):
        n = rng.randint(1, 60)
        out.append("".join(rng.choice(printable) for _ in range(n)))
    for _ in range(80):
        n = rng.randint(1, 40)
        out.append("".join(rng.choice(_POOL) for _ in range(n)))
    for _ in range(40):
        n = rng.randint(1, 25)
        seps = [" ", " ", " ", "  ", "\n", ", ", ". ", "\t", " \n"]
        out.append("".join(rng.choice(_WORDS) + rng.choice(seps) for _ in range(n)))
    for _ in range(20):  # random code points anywhere in the BMP and beyond (no surrogates)
        chars = []
        for _ in range(rng.randint(1, 12)):
            cp = rng.randint(0x20, 0x2FFFF)
            if 0xD800 <= cp < 0xE000:
                cp = 0x20
            chars.append(chr(cp))
        out.append("".join(chars))
    return out


def all_strings():
    fixed = LATIN + SCRIPTS + EMOJI + WHITESPACE + CONTRACTIONS + NUMBERS + PUNCT + CODE + LONG + MISC
    return fixed + random_strings()


def training_text(seed=7):
    """A few KB of mixed text to train a small ByteLevel BPE vocab on."""
    rng = random.Random(seed)
    lines = []
    for _ in range(120):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 12))]
        lines.append(" ".join(words) + rng.choice([".", "!", "?", ",", ""]))
    lines += SCRIPTS + LATIN + CONTRACTIONS + NUMBERS + CODE
    return "\n".join(lines)
