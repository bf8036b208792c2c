"""Fixed benchmark inputs: 64 English sentences of about 27 words and 6 labels."""

BASE = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday to discuss the future of the European Union and the energy crisis that has hit German industry hard.",
    "Apple announced on Monday that Tim Cook will present the new iPhone at the Steve Jobs Theater in Cupertino, California, before the holiday shopping season begins.",
    "The Boston Red Sox beat the New York Yankees 5 to 3 at Fenway Park on Sunday night, with David Ortiz watching from the stands with his family.",
    "Researchers at the University of Oxford published a study in Nature showing that the Amazon rainforest absorbs less carbon than it did in the 1990s.",
    "Taylor Swift released her new album Midnights in October 2022, and it broke the Spotify record for the most streamed album in a single day worldwide.",
    "The United Nations Security Council met in New York after Russia and China vetoed a resolution drafted by France on the humanitarian situation in Syria.",
    "Microsoft agreed to buy Activision Blizzard for 68.7 billion dollars, according to a statement released by Satya Nadella and Bobby Kotick on Tuesday morning.",
    "Lionel Messi scored twice as Argentina defeated Croatia at the Lusail Stadium in Qatar, reaching the World Cup final against France on December 18.",
    "The Louvre Museum in Paris reopened its doors after three months, welcoming visitors to see the Mona Lisa and a new exhibition on ancient Egypt.",
    "Elon Musk said that SpaceX will launch the Starship rocket from Boca Chica, Texas, next month if the Federal Aviation Administration grants a license.",
    "Doctors at the Mayo Clinic in Rochester, Minnesota, reported that a new drug called lecanemab slowed memory decline in patients with early Alzheimer disease.",
    "Netflix said that Stranger Things, created by the Duffer Brothers, became its most watched English language series, beating Bridgerton in the first month.",
    "Prime Minister Narendra Modi inaugurated a new airport in Mumbai on Friday, promising that India will build two hundred airports before the end of 2030.",
    "The Golden State Warriors signed Stephen Curry to a four year contract extension worth 215 million dollars, the team announced in San Francisco on Friday.",
    "Amazon opened its first cashierless grocery store in London in March, allowing customers in Ealing to walk out without queuing at a checkout counter.",
    "The British Museum returned several Benin Bronzes to Nigeria after a long campaign by activists, scholars and the government of Edo State in Benin City.",
]
SENTENCES = (BASE * 4)[:64]
LABELS = ["person", "organization", "location", "date", "event", "product"]


def long_document(words: int = 2000) -> tuple[str, list[tuple[int, int]]]:
    """A ~2,000-word document made of the sentences above, and the character spans of 'Paris'."""
    text, n = "", 0
    while n < words:
        for sentence in BASE:
            text += sentence + " "
            n += len(sentence.split())
    text = text.strip()
    spans, start = [], text.find("Paris")
    while start != -1:
        spans.append((start, start + 5))
        start = text.find("Paris", start + 1)
    return text, spans
