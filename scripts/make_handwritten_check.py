"""Write src/gliner/labels/handwritten_check.jsonl: a small hand-written check "as a user would try it".

Sentences are written by hand with each mention marked as [surface text](label); this script strips the
marks, splits the text with gliner's whitespace splitter and turns the marked character ranges into
inclusive word spans. Rerunning it rewrites the file byte-identically.

    python3 scripts/make_handwritten_check.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# Same pattern as gliner.processing.WORD_PATTERN (copied so this runs without torch).
WORD_PATTERN = re.compile(r"\w+(?:[-_]\w+)*|\S")
MARK = re.compile(r"\[([^\[\]]+)\]\(([^()]+)\)")

OUT = Path(__file__).resolve().parent.parent / "src" / "gliner" / "labels" / "handwritten_check.jsonl"

DOMAINS = {
    "technology": (
        ["programming language", "company", "software", "person", "city", "operating system"],
        [
            "[Guido van Rossum](person) released the first version of [Python](programming language) in 1991 while working in [Amsterdam](city).",
            "[Microsoft](company) announced that [Visual Studio Code](software) will get better support for [Rust](programming language) and [Go](programming language) next month.",
            "honestly [Vim](software) on [Linux](operating system) is all I need, [VS Code](software) feels way too heavy lol",
            "Does [TensorFlow](software) still run natively on [Windows](operating system), or should I just switch to [PyTorch](software)?",
            "[Linus Torvalds](person) wrote [Git](software) in 2005 after the license dispute over [BitKeeper](software).",
            "Review: the new [Lenovo](company) laptop ships with [Ubuntu](operating system) preinstalled, and compiling large [C++](programming language) projects with [GCC](software) takes half the time it used to.",
            "[Google](company) opened a new engineering office in [Zurich](city) focused on [Kotlin](programming language) tooling for [Android](operating system).",
            "Just spent six hours debugging a [JavaScript](programming language) date bug. [Brendan Eich](person), why?? #webdev",
        ],
    ),
    "medicine": (
        ["disease", "drug", "symptom", "body part", "hospital", "medical procedure"],
        [
            "The patient was admitted to [Massachusetts General Hospital](hospital) with [chest pain](symptom) and [shortness of breath](symptom).",
            "[Metformin](drug) remains the first-line treatment for [type 2 diabetes](disease) in most guidelines.",
            "my [head](body part) has been pounding since yesterday, is it ok to take [ibuprofen](drug) together with [paracetamol](drug)?",
            "Doctors at [Johns Hopkins Hospital](hospital) performed a [kidney transplant](medical procedure) on a child born with [polycystic kidney disease](disease).",
            "Common signs of [influenza](disease) include [fever](symptom), [muscle aches](symptom) and a [sore throat](symptom).",
            "She needed an [MRI scan](medical procedure) of her [lower back](body part) after weeks of [numbness](symptom) in her left [leg](body part).",
            "Is [amoxicillin](drug) effective against [strep throat](disease), or do I need something stronger?",
            "Early [colonoscopy](medical procedure) screening can catch [colorectal cancer](disease) long before any [bleeding](symptom) appears.",
        ],
    ),
    "geography": (
        ["river", "mountain", "country", "city", "lake", "island"],
        [
            "The [Danube](river) flows through [Vienna](city), [Bratislava](city), [Budapest](city) and [Belgrade](city) before reaching the Black Sea.",
            "We hiked around [Lake Bled](lake) in [Slovenia](country) and then drove up the valley to get a view of [Triglav](mountain).",
            "Is [Mount Kilimanjaro](mountain) in [Kenya](country) or [Tanzania](country)? I always mix that up.",
            "Ferries from [Athens](city) to [Santorini](island) take about five hours, longer if you stop at [Naxos](island).",
            "[Lake Titicaca](lake), on the border between [Peru](country) and [Bolivia](country), is one of the highest navigable lakes in the world.",
            "The [Rhine](river) starts in [Switzerland](country), passes [Basel](city) and [Cologne](city), and reaches the sea in the [Netherlands](country).",
            "Backpacking update: [Iceland](country) was unreal, but the drive from [Reykjavik](city) to [Lake Mývatn](lake) nearly broke our rental car",
            "[Sicily](island) is the largest island in the Mediterranean, and [Mount Etna](mountain) towers over its eastern coast near [Catania](city).",
        ],
    ),
    "sports": (
        ["sports team", "athlete", "sport", "city", "stadium", "competition"],
        [
            "[Lionel Messi](athlete) scored twice as [Inter Miami](sports team) beat [Orlando City](sports team) at [Chase Stadium](stadium).",
            "[Serena Williams](athlete) won her first [Wimbledon](competition) title in 2002, beating her sister [Venus](athlete) in the final.",
            "who's watching the [Lakers](sports team) vs [Celtics](sports team) tonight?? [LeBron](athlete) better show up",
            "The [Tour de France](competition) finishes in [Paris](city) every July, and [cycling](sport) fans line the Champs-Élysées for the last stage.",
            "[Usain Bolt](athlete) won three gold medals at the [2008 Summer Olympics](competition) in [Beijing](city).",
            "[Wembley Stadium](stadium) will host the [FA Cup](competition) final between [Chelsea](sports team) and [Manchester City](sports team).",
            "My kid just started playing [rugby](sport) and now refuses to go to [swimming](sport) lessons.",
            "[Shohei Ohtani](athlete) hit two home runs as the [Los Angeles Dodgers](sports team) beat the [San Diego Padres](sports team) at [Dodger Stadium](stadium).",
        ],
    ),
    "music": (
        ["musician", "band", "musical instrument", "music genre", "song", "album"],
        [
            "[The Beatles](band) recorded [Abbey Road](album) in 1969, and [Here Comes the Sun](song) is still my favourite track on it.",
            "Anyone know a good teacher for [jazz](music genre) [piano](musical instrument) around here? I can read music but I can't improvise at all.",
            "[Taylor Swift](musician) surprised fans by playing [Love Story](song) on a [banjo](musical instrument) during the encore.",
            "[Miles Davis](musician) changed [jazz](music genre) forever with [Kind of Blue](album), featuring [John Coltrane](musician) on [tenor saxophone](musical instrument).",
            "[Metallica](band) fans were split when the band moved away from [thrash metal](music genre) on [Load](album).",
            "Review: [Radiohead](band)'s [OK Computer](album) still sounds like the future; [Paranoid Android](song) alone is worth the price.",
            "Learning the [violin](musical instrument) as an adult is brutal, but my roommate who plays the [cello](musical instrument) says it gets better",
            "[Bob Marley](musician) and [The Wailers](band) brought [reggae](music genre) to a worldwide audience with [Exodus](album).",
        ],
    ),
    "film": (
        ["film", "director", "actor", "book", "author", "award"],
        [
            "[Christopher Nolan](director) finally won an [Oscar](award) for [Oppenheimer](film), and [Cillian Murphy](actor) won one too.",
            "[Peter Jackson](director)'s trilogy was based on [The Lord of the Rings](book) by [J. R. R. Tolkien](author).",
            "just finished [Dune](book) by [Frank Herbert](author) and now I'm nervous about watching the [Villeneuve](director) movie",
            "[Meryl Streep](actor) holds the record for the most [Academy Award](award) nominations for acting.",
            "Was [Parasite](film) the first non-English film to win [Best Picture](award)? [Bong Joon-ho](director) looked genuinely shocked.",
            "[Toni Morrison](author) received the [Nobel Prize in Literature](award) in 1993, six years after publishing [Beloved](book).",
            "Review: [Greta Gerwig](director)'s [Little Women](film) is warmer than the [Louisa May Alcott](author) novel, and [Saoirse Ronan](actor) is perfect as Jo.",
            "[Stanley Kubrick](director) adapted [Stephen King](author)'s [The Shining](book) into a film that [King](author) reportedly hated.",
        ],
    ),
    "food": (
        ["dish", "ingredient", "beverage", "restaurant", "kitchen utensil", "chef"],
        [
            "A proper [carbonara](dish) uses [guanciale](ingredient), [egg yolks](ingredient), [pecorino](ingredient) and [black pepper](ingredient), never [cream](ingredient).",
            "[Gordon Ramsay](chef) insists that [risotto](dish) must be stirred constantly with a [wooden spoon](kitchen utensil).",
            "we got [ramen](dish) at [Ichiran](restaurant) last night and washed it down with cold [sake](beverage), 10/10",
            "What can I use instead of [buttermilk](ingredient) for [pancakes](dish)? All I have is [milk](ingredient) and [lemon juice](ingredient).",
            "Review: the tasting menu at [Noma](restaurant) paired each course with a glass of [wine](beverage) or [kombucha](beverage), and the dessert of [sea buckthorn](ingredient) and [white chocolate](ingredient) was unforgettable.",
            "Beat the [eggs](ingredient) and [sugar](ingredient) with a [whisk](kitchen utensil), then fold in the [flour](ingredient) using a [spatula](kitchen utensil).",
            "[Julia Child](chef) taught millions of Americans to cook [beef bourguignon](dish) and [coq au vin](dish).",
            "Morning routine: a double [espresso](beverage) and [avocado toast](dish) at [Tartine](restaurant), nothing else works before 9am.",
        ],
    ),
    "business": (
        ["company", "person", "currency", "stock exchange", "country", "job title"],
        [
            "[Tesla](company) shares fell 8% on the [Nasdaq](stock exchange) after [Elon Musk](person) warned of slower deliveries in [China](country).",
            "The [euro](currency) weakened against the [US dollar](currency) after weak factory data from [Germany](country).",
            "[Satya Nadella](person) became [chief executive](job title) of [Microsoft](company) in 2014, succeeding [Steve Ballmer](person).",
            "anyone else think [Nvidia](company) is overvalued or am I just bitter I didn't buy in 2020",
            "[Toyota](company) is listed on the [Tokyo Stock Exchange](stock exchange) and reports its earnings in [yen](currency).",
            "Is it cheaper to pay in [pounds](currency) or [euros](currency) when booking hotels in [Ireland](country)?",
            "[Warren Buffett](person) said [Berkshire Hathaway](company) would keep buying shares of Japanese trading houses such as [Mitsubishi](company).",
            "[Argentina](country) devalued the [peso](currency) again, and shares of [Mercado Libre](company) on the [Nasdaq](stock exchange) barely moved.",
        ],
    ),
    "science": (
        ["animal", "plant", "chemical element", "scientist", "planet", "university"],
        [
            "[Marie Curie](scientist) discovered [polonium](chemical element) and [radium](chemical element) together with her husband [Pierre](scientist).",
            "Researchers at [Stanford University](university) found that [octopuses](animal) can taste with their suckers.",
            "Saw a [red fox](animal) chasing a [rabbit](animal) through the [lavender](plant) this morning!! 🦊",
            "Why does [Mars](planet) look red while [Neptune](planet) looks blue? Is it the [iron](chemical element) in the soil?",
            "[Charles Darwin](scientist) studied [finches](animal) and [giant tortoises](animal) on the Galápagos Islands.",
            "[Oaks](plant) support hundreds of species of [caterpillars](animal), far more than [ginkgo](plant) or [magnolia](plant).",
            "A team from [MIT](university) built a battery that uses [sodium](chemical element) instead of [lithium](chemical element).",
            "[Saturn](planet) now has more known moons than [Jupiter](planet), according to astronomers at the [University of Hawaii](university).",
        ],
    ),
    "history": (
        ["politician", "political party", "country", "war", "city", "treaty"],
        [
            "[Winston Churchill](politician) led [Britain](country) through the [Second World War](war) but lost the 1945 election to the [Labour Party](political party).",
            "The [Treaty of Versailles](treaty) was signed in 1919, formally ending the war between [Germany](country) and the Allied Powers.",
            "[Abraham Lincoln](politician) of the [Republican Party](political party) was assassinated in [Washington](city) days after the [American Civil War](war) effectively ended.",
            "[Angela Merkel](politician) led the [Christian Democratic Union](political party) for eighteen years and was chancellor of [Germany](country) from 2005 to 2021.",
            "wait, was the [Korean War](war) ever officially ended or is it still just an armistice?",
            "[Nelson Mandela](politician) gave his first speech as a free man in [Cape Town](city) in 1990 and became president of [South Africa](country) four years later.",
            "Under the [Good Friday Agreement](treaty), [Sinn Féin](political party) and the [Democratic Unionist Party](political party) share power in [Belfast](city).",
            "The [Peace of Westphalia](treaty) ended the [Thirty Years' War](war) in 1648 and left [France](country) and [Sweden](country) as the big winners.",
        ],
    ),
}


def parse(marked: str, labels: list[str]) -> tuple[str, list[tuple[int, int, str]]]:
    """Strip [surface](label) marks; return the plain text and the marked character ranges."""
    text, spans, pos = [], [], 0
    length = 0
    for m in MARK.finditer(marked):
        plain = marked[pos:m.start()]
        assert "[" not in plain and "]" not in plain, f"stray bracket in {marked!r}"
        text.append(plain)
        length += len(plain)
        surface, label = m.group(1), m.group(2)
        assert label in labels, f"{label!r} not in {labels} ({marked!r})"
        spans.append((length, length + len(surface), label))
        text.append(surface)
        length += len(surface)
        pos = m.end()
    rest = marked[pos:]
    assert "[" not in rest and "]" not in rest, f"stray bracket in {marked!r}"
    text.append(rest)
    return "".join(text), spans


def build(domain: str, n: int, labels: list[str], marked: str) -> dict:
    text, char_spans = parse(marked, labels)
    words = [(m.group(), m.start(), m.end()) for m in WORD_PATTERN.finditer(text)]
    starts = {s: i for i, (_, s, _) in enumerate(words)}
    ends = {e: i for i, (_, _, e) in enumerate(words)}
    ner = []
    for cs, ce, label in char_spans:
        assert cs in starts and ce in ends, f"{text[cs:ce]!r} does not align with words in {text!r}"
        ner.append([starts[cs], ends[ce], label])
    for a, b in zip(ner, ner[1:]):
        assert a[1] < b[0], f"overlapping spans in {text!r}"
    return {
        "tokenized_text": [w for w, _, _ in words],
        "ner": ner,
        "labels": list(labels),
        "text": text,
        "offsets": [[s, e] for _, s, e in words],
        "id": f"handwritten#{domain}-{n}",
        "source": "handwritten",
        "domain": domain,
        "silver": False,
        "lang": "en",
    }


def main() -> None:
    lines = []
    for domain, (labels, sentences) in DOMAINS.items():
        assert len(set(labels)) == len(labels)
        for n, marked in enumerate(sentences, 1):
            example = build(domain, n, labels, marked)
            lines.append(json.dumps(example, ensure_ascii=False, separators=(", ", ": ")))
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mentions = sum(len(json.loads(line)["ner"]) for line in lines)
    print(f"wrote {OUT}: {len(lines)} sentences, {mentions} mentions, {len(DOMAINS)} domains")


if __name__ == "__main__":
    main()
