"""The story catalog: 25 genres, ten prompts each, the style modifiers, and the sampler.

A session draws its examples from here: a genre (balanced over the genres the user picked),
one of that genre's prompts and a style, all from one `random.Random` so that a seed
reproduces the whole sequence.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from models.enums import Genre
from models.errors import BadUserInput

GENRE_LABELS: dict[Genre, str] = {
    Genre.ADVENTURE: "Adventure",
    Genre.BIOGRAPHY: "Biography",
    Genre.COMEDY: "Comedy",
    Genre.CONTEMPORARY: "Contemporary",
    Genre.CRIME: "Crime",
    Genre.DRAMA: "Drama",
    Genre.DYSTOPIAN: "Dystopian",
    Genre.EPIC: "Epic",
    Genre.FAIRY_TALE: "Fairy Tale",
    Genre.FANTASY: "Fantasy",
    Genre.HISTORICAL_FICTION: "Historical Fiction",
    Genre.HORROR: "Horror",
    Genre.LITERARY_FICTION: "Literary Fiction",
    Genre.MEMOIR: "Memoir",
    Genre.MYSTERY: "Mystery",
    Genre.MYTHOLOGY: "Mythology",
    Genre.PARANORMAL: "Paranormal",
    Genre.POETRY: "Poetry",
    Genre.ROMANCE: "Romance",
    Genre.SCIENCE_FICTION: "Science Fiction",
    Genre.SHORT_STORY: "Short Story",
    Genre.THRILLER: "Thriller",
    Genre.URBAN_FANTASY: "Urban Fantasy",
    Genre.WESTERN: "Western",
    Genre.YOUNG_ADULT: "Young Adult",
}

PROMPTS: dict[Genre, tuple[str, ...]] = {
    Genre.ADVENTURE: (
        "A cartographer hired to map an uncharted archipelago finds that the islands drift "
        "a little further apart every night.",
        "Two estranged sisters must cross a frozen mountain pass with their late father's "
        "ashes before the spring thaw closes it for good.",
        "A teenage stowaway on a cargo zeppelin discovers that the crew is smuggling "
        "something alive in the forward hold.",
        "An aging treasure hunter returns to the jungle temple that cost him his partner, "
        "this time with her daughter as his guide.",
        "A river pilot agrees to take a silent stranger downstream, no questions asked, "
        "through rapids no boat has survived in a decade.",
        "The last ferry out of a flooding delta town carries eleven passengers, one of whom "
        "knows exactly why the levee broke.",
        "A retired mountaineer receives a postcard mailed from the summit where her climbing "
        "partner vanished forty years ago.",
        "A desert courier must carry a sealed letter through three warring caravans before "
        "sunset, and each of them wants to read it.",
        "A diver searching a sunken galleon for gold finds the captain's log, and its final "
        "entry is dated tomorrow.",
        "A boy and his grandmother set out in a homemade hot-air balloon to scatter seeds "
        "over a valley the drought has emptied.",
    ),
    Genre.BIOGRAPHY: (
        "A lighthouse keeper's daughter rows out alone into a winter storm and spends the "
        "rest of her life uneasy with the fame it brings her.",
        "A self-taught astronomer working nights in a textile mill catalogues three hundred "
        "variable stars before anyone will print her name.",
        "A jazz pianist who lost two fingers in a factory accident reinvents his playing and "
        "teaches a generation to hear the silence between notes.",
        "A village midwife keeps a ledger of every birth she attends for fifty years, and "
        "the ledger becomes the only history the valley has.",
        "An immigrant grocer builds a corner shop into a neighbourhood institution while "
        "quietly paying the rent of families who cannot.",
        "A wartime code-breaker goes back to teaching primary-school arithmetic and never "
        "tells her pupils what her numbers once saved.",
        "A botanist who was never allowed to attend university smuggles seed samples across "
        "a closed border to save a dying orchard.",
        "A circus strongman turned suffragist uses his stage to carry the speeches of women "
        "who were barred from speaking in public.",
        "A cartographer redraws the coastline of her homeland from memory after every "
        "official map is burned during the occupation.",
        "A marathon runner who took up the sport at sixty-one finishes her hundredth race on "
        "the morning of her eightieth birthday.",
    ),
    Genre.COMEDY: (
        "A wedding planner books two feuding families into the same castle on the same "
        "weekend and decides to merge the weddings rather than admit the mistake.",
        "A retired magician's parrot starts revealing the secret of every trick on the night "
        "of his comeback show.",
        "A village baking contest descends into espionage when the reigning champion's "
        "sourdough starter is kidnapped.",
        "An overly honest robot vacuum joins the neighbourhood watch and begins filing "
        "reports on everyone's crumbs.",
        "A man who has pretended to speak fluent French for ten years is finally sent to "
        "Paris by his company.",
        "Three grandmothers enter an online gaming tournament under a single username and "
        "start climbing the world rankings.",
        "The ghost of a seaside guesthouse is furious that the new owners keep advertising "
        "him as a feature.",
        "The understudy for the second tree in a school play launches a campaign to be "
        "promoted to the role of the wolf.",
        "A dog walker mixes up the leads in the park and spends the whole day returning "
        "eight dogs to the wrong owners.",
        "A town council votes to replace the statue of a forgotten general with one of a "
        "beloved local goat, and the general's descendants object.",
    ),
    Genre.CONTEMPORARY: (
        "A night-shift nurse and a teenage insomniac strike up a friendship through notes "
        "left in a hospital vending machine.",
        "A family clearing out the house their mother lived in for fifty years finds a "
        "second, secret set of photo albums.",
        "A rideshare driver realises the same passenger has booked her every Thursday for a "
        "year and has never once said where he is going.",
        "A laid-off architect takes a job building sandcastles for a luxury resort and "
        "starts designing the house she never got to build.",
        "Two neighbours who have feuded over a shared fence for a decade are snowed in "
        "together during a blackout.",
        "A barista who remembers every order her regulars have ever placed notices the "
        "morning one of them stops coming.",
        "A recently divorced father learns to braid his daughter's hair from online videos "
        "the night before her first recital.",
        "A food-truck owner parks outside the office tower she was fired from and starts "
        "feeding her old colleagues at a loss.",
        "A woman moves home to run her father's failing bowling alley and finds the "
        "regulars have been keeping it alive in secret.",
        "A high-school janitor who was once a concert violinist is overheard playing in the "
        "empty auditorium after hours.",
    ),
    Genre.CRIME: (
        "A pawnshop owner recognises the wedding ring a nervous customer is selling, "
        "because she buried it with her sister.",
        "A forger who has retired to paint honest landscapes is blackmailed into copying one "
        "final masterpiece.",
        "A getaway driver waits outside a bank for a crew that never comes out, while the "
        "police scanner stays strangely silent.",
        "An insurance investigator notices that every fire in a small town this year began "
        "in a room with a grandfather clock.",
        "A court stenographer realises that the testimony she is typing matches, word for "
        "word, a confession she transcribed twenty years ago.",
        "Two rival pickpockets working the same railway station call a truce to rob a man "
        "neither of them can read.",
        "A locksmith called to open a safe in a dead man's apartment finds that it was "
        "locked from the inside.",
        "A small-time bookie takes a bet so large and so specific that she begins to suspect "
        "the gambler already knows the outcome.",
        "A detective on the last day before her retirement catches a case in the house "
        "where she grew up.",
        "An art-school dropout who runs a neighbourhood laundromat discovers that someone is "
        "laundering more than clothes through her machines.",
    ),
    Genre.DRAMA: (
        "A celebrated conductor begins losing his hearing in the season he is meant to "
        "perform his late wife's only symphony.",
        "Three adult siblings meet at their father's bedside and must decide which of them "
        "will tell him the family farm has been sold.",
        "A small-town doctor is asked to testify against the patient who once saved her "
        "son's life.",
        "A retired actress agrees to coach the young star cast in her most famous role and "
        "watches her own mistakes repeated in rehearsal.",
        "A fisherman's widow refuses to sell her husband's boat, even as the harbour and the "
        "bank close in around her.",
        "Two best friends who opened a restaurant together must choose between their "
        "partnership and a lucrative buyout.",
        "A prison chaplain begins writing to the man who killed his brother and cannot "
        "decide whether it is faith or revenge.",
        "A daughter caring for her mother through dementia is cast each evening as a "
        "different person from her mother's past.",
        "A union leader on the eve of a strike vote discovers that her own brother is "
        "leaking their plans to management.",
        "An ageing boxer agrees to train the son of the opponent he once hurt badly in the ring.",
    ),
    Genre.DYSTOPIAN: (
        "A clerk in a city where emotions are rationed by monthly allowance begins selling "
        "her unused joy on the black market.",
        "The last librarian of a nation that has outlawed fiction hides novels inside the "
        "government's own instruction manuals.",
        "A girl turns sixteen in a society where everyone's remaining lifespan glows on "
        "their wrist, and hers reads zero.",
        "A factory worker discovers that the cheerful voice reading the daily news has been "
        "the same recording for thirty years.",
        "A water-rights auditor in a drowned coastal megacity finds that the ration numbers "
        "for an entire district have been falsified.",
        "A citizen who has never missed a day of mandatory happiness training catches "
        "herself frowning in a public mirror.",
        "Two teenagers in a walled town are assigned their future spouses by algorithm and "
        "decide to game the system together.",
        "A messenger carries handwritten letters between towns in a country where every "
        "electronic word is monitored.",
        "A groundskeeper at the state memory-erasure clinic starts collecting the "
        "photographs that patients leave behind.",
        "A child born after the great silence asks her grandfather what birds sounded like, "
        "and he is not allowed to answer.",
    ),
    Genre.EPIC: (
        "A shepherd's son carries the broken crown of a fallen kingdom across seven "
        "provinces to the one heir no one believes exists.",
        "Two rival queens must unite their fleets against a storm that has been sailing "
        "toward their shores for a hundred years.",
        "A blind poet is the only one who remembers the true names of the gods, and every "
        "army in the world wants her alive.",
        "The thirteenth son of a warlord refuses his inheritance and leads the conquered "
        "peoples on a march across the salt desert.",
        "A bridge-builder is ordered to span the gorge between two empires in a single "
        "season, knowing that whoever crosses first will declare war.",
        "An exiled general returns from the edge of the map at the head of an army of the "
        "soldiers his emperor left for dead.",
        "Three generations of one family hold a mountain fortress through a siege that "
        "outlasts the war that began it.",
        "A young ferrywoman must carry the souls of a fallen city across the river of the "
        "dead before dawn closes the crossing.",
        "A forgotten prince raised among horse nomads is called home to claim a throne his "
        "sister has ruled well for twenty years.",
        "A smith forges a sword from the iron of a fallen star and learns that every battle "
        "it wins will erase one of her memories.",
    ),
    Genre.FAIRY_TALE: (
        "A miller's youngest daughter is sent to fetch water from a well that answers "
        "questions, but only in riddles about her own future.",
        "A tailor sews a coat of moonlight for a king who cannot sleep, and the king begins "
        "to dream other people's dreams.",
        "A girl trades her voice to a crow for a map to her lost brother, and the crow uses "
        "her voice to sing the wrong people home.",
        "A goose girl discovers that the geese she tends are seven enchanted princes who "
        "would much rather stay geese.",
        "A kindly baker finds a tiny sleeping queen inside a loaf she has just taken from "
        "the oven.",
        "A woodcutter's son is granted three wishes by a fox and spends the first one "
        "wishing he had asked better questions.",
        "An old woman who lives in a house made of clocks offers a runaway prince shelter "
        "in exchange for one hour of his life.",
        "A princess locked in a tower teaches herself to climb down her own braid and finds "
        "that nobody was guarding the door.",
        "A shoemaker's apprentice stitches a pair of boots that will only walk toward the "
        "person who needs them most.",
        "A frog who was never a prince falls in love with a princess who is secretly a frog.",
    ),
    Genre.FANTASY: (
        "A hedge-witch who can speak to bees must convince the hive to abandon the valley "
        "before a wizards' war arrives.",
        "A dragon who hoarded books instead of gold hires a young scholar to catalogue her "
        "library before she dies.",
        "A mapmaker's apprentice discovers that whatever she draws on her master's maps "
        "becomes true at sunrise.",
        "A disgraced knight is sentenced to guard a bridge that no one has tried to cross in "
        "three hundred years, until tonight.",
        "A city built on the back of a sleeping giant begins to tremble as the giant starts "
        "to dream.",
        "An apprentice glassblower learns to trap memories inside the bottles she makes and "
        "is summoned by a grieving queen.",
        "A thief steals the shadow of a sorcerer and finds that the shadow wants to go home.",
        "The youngest member of a guild of storm-callers is the only one who can hear that "
        "the wind has started to lie.",
        "Two mages of rival schools are chained together by a curse that breaks only when "
        "they agree on something.",
        "A tavern at the crossroads of four kingdoms serves a single patron once a century, "
        "and tonight he has come back.",
    ),
    Genre.HISTORICAL_FICTION: (
        "A young scribe in the Library of Alexandria smuggles out a single scroll on the "
        "night the fire begins.",
        "A miner's wife organises the women of a Welsh valley during the great strike of "
        "1926 while her husband keeps silent.",
        "A Venetian glassmaker's daughter, forbidden to leave Murano, plans her escape "
        "across the lagoon during carnival.",
        "A telegraph operator in a Nevada railway town in 1869 receives a message meant for "
        "a man who died in the war.",
        "A Japanese-American family returning from an internment camp in 1945 finds their "
        "farm being worked by their former neighbour.",
        "A printer's apprentice in Mainz in the 1450s realises that the new press will put "
        "his whole family of scribes out of work.",
        "A nurse at Scutari in the winter of 1854 keeps a secret list of the soldiers she "
        "is sure the army has forgotten.",
        "A Viking trader's daughter, left in charge of the family storehouse in Dublin, must "
        "bargain with the Irish king besieging the town.",
        "Two boys on opposite sides of the Berlin Wall build a friendship out of paper "
        "aeroplanes in the summer of 1962.",
        "A woman disguised as a man signs on to a whaling ship out of Nantucket in 1840 to "
        "find the husband who deserted her.",
    ),
    Genre.HORROR: (
        "A night watchman at a wax museum notices that one of the figures stands a little "
        "closer to the door each morning.",
        "A family moves into a farmhouse where every room has been wallpapered over a dozen "
        "times, and the children start peeling.",
        "A lighthouse keeper realises that the beam she has tended for thirty years was "
        "never meant to guide ships in, but to keep something out.",
        "A babysitter keeps receiving calls from the children she is minding, who are "
        "asleep upstairs.",
        "A small town's scarecrow festival ends, but one of the scarecrows refuses to be "
        "taken down.",
        "A woman hears her own voice on an answering-machine message recorded the night "
        "before she was born.",
        "A deep-sea research crew hauls up a sealed diving bell from the ocean floor, and "
        "something inside knocks politely.",
        "A hospice nurse notices that her dying patients all describe the same smiling "
        "visitor standing in the corner of the room.",
        "A boy finds a door in the basement that was not there yesterday and hears his "
        "mother calling from behind it, though she is upstairs.",
        "A village that has not held a funeral in a hundred years draws lots each winter, "
        "and nobody will say what the winner receives.",
    ),
    Genre.LITERARY_FICTION: (
        "A widower who never learned to cook works through his late wife's handwritten "
        "recipe cards, one every Sunday.",
        "A translator realises that the novel she is translating describes her own "
        "childhood with unnerving precision.",
        "An elderly piano tuner visits the houses he has served for fifty years and "
        "measures his life by how their instruments have aged.",
        "Two strangers share a hospital waiting room for a single night, and each tells the "
        "other the one story they have never told.",
        "A woman inherits her estranged father's collection of ten thousand unsent "
        "postcards, every one of them addressed to her.",
        "A retired schoolteacher rows the length of the river she grew up beside, stopping "
        "at every town to ask who remembers her mother.",
        "A man who restores antique clocks notices that his own memory has begun to run a "
        "few minutes behind.",
        "A daughter drives her mother's ashes across the country, following a route her "
        "mother marked in an atlas forty years ago.",
        "An immigrant father and his grown son repaint the family restaurant's sign and "
        "argue about which language to write it in.",
        "A poet who has not written a word in twenty years takes a job cleaning rooms in a "
        "seaside hotel and begins reading what the guests leave behind.",
    ),
    Genre.MEMOIR: (
        "The summer I turned twelve, my grandfather taught me to sail a boat he had built "
        "in his garage, and neither of us ever admitted it leaked.",
        "I learned my mother's native language at thirty-five, from strangers, after she was gone.",
        "My first job was washing dishes in a roadside diner where the cook kept a shotgun "
        "and a tray of perfect pies beside the grill.",
        "Every Sunday for a decade my father drove us past a house we had never lived in "
        "and never once explained why.",
        "I spent a year as the only English teacher in a mountain village where my students "
        "taught me far more than I taught them.",
        "The night our apartment building burned, my brother carried out the goldfish and "
        "left his shoes behind.",
        "I was the girl who read in the school library every lunch break, until the "
        "librarian handed me her keys.",
        "My grandmother's kitchen had exactly one rule, and it took me twenty years and her "
        "funeral to understand it.",
        "I drove a taxi through three winters in a city that never slept, and I still "
        "remember the passengers who never said a word.",
        "The year my parents' marriage ended, we raised an orphaned fox cub in the bathtub "
        "and called it a family project.",
    ),
    Genre.MYSTERY: (
        "A crossword setter receives a letter pointing out that her last six puzzles, read "
        "diagonally, describe a murder that has not happened yet.",
        "A village postmistress realises that the anonymous letters everyone is receiving "
        "were typed on her own typewriter.",
        "A guest at a snowbound mountain inn is found in a locked library with the only key "
        "frozen inside a glass of water.",
        "A retired detective's parrot starts repeating a telephone number that belongs to a "
        "woman missing for ten years.",
        "A museum curator discovers that the priceless painting recovered after a famous "
        "theft is a better forgery than the one that was stolen.",
        "A bookseller notices that someone keeps buying the same obscure novel, filling its "
        "margins with clues, and returning it.",
        "The members of a village bell-ringing society each swear they were in the tower "
        "when the vicar fell, but the bells rang one short.",
        "A young archivist cataloguing a dead novelist's papers finds an unpublished final "
        "chapter that names the novelist's killer.",
        "A night train from Vienna arrives in Venice with one more passenger than it left "
        "with, and nobody can say which one.",
        "A gardener on a country estate digs up a silver christening cup engraved with the "
        "name of a child the family insists was never born.",
    ),
    Genre.MYTHOLOGY: (
        "The goddess of the harvest goes on strike and sends the other gods a list of "
        "demands written in wheat.",
        "A mortal weaver beats the goddess of craft in a contest and must decide what to do "
        "with a prize no human was meant to hold.",
        "The ferryman of the dead falls in love with a soul who keeps refusing to pay the fare.",
        "A trickster god steals the chariot of the sun for a single afternoon and learns "
        "why no one else drives it.",
        "The first potter shapes humankind out of river clay and then has to argue with the "
        "river, which wants its clay back.",
        "A young hero sent to slay a monster discovers it is the last of its kind, guarding "
        "its own children.",
        "The god of the sea and the god of the sky wager the fate of a fishing village on a "
        "game of dice.",
        "A mortal musician descends into the underworld not to bring anyone back, but to "
        "play one last song for the dead.",
        "The moon, tired of chasing the sun across the sky, hides among mortals for a single "
        "night disguised as an old woman.",
        "The twin children of the thunder god are split between heaven and earth, and every "
        "storm is the two of them trying to reach each other.",
    ),
    Genre.PARANORMAL: (
        "A real-estate agent who specialises in haunted houses negotiates directly with the "
        "ghosts for better terms.",
        "A radio host's late-night call-in show begins receiving calls from listeners who "
        "died decades ago.",
        "A woman who can hear the last thoughts of the objects she touches buys a box of "
        "belongings at an estate sale.",
        "A psychic who has always been a fraud gives a reading that comes true in every detail.",
        "A night guard at a closed amusement park is asked by a ghostly child to run the "
        "carousel one more time.",
        "A medium is hired to contact the late husband of a widow who does not actually want "
        "to hear from him.",
        "A teenage boy begins to see the ghost of a girl in every reflective surface, and "
        "she is trying to warn him about his own house.",
        "A paranormal investigator who has never believed in ghosts is haunted by the one "
        "that disproves her entire career.",
        "Room 312 of an old hotel has not been booked in forty years, until a guest checks "
        "in claiming she has a reservation.",
        "A small-town mortician hears the bodies in her care whisper the names of the people "
        "who killed them.",
    ),
    Genre.POETRY: (
        "A grandmother's hands knead bread at dawn, and every fold remembers a kitchen in "
        "another country.",
        "The last snow of winter lingers in the shadow of a church wall, unwilling to let "
        "spring have the whole town.",
        "A city at three in the morning breathes through its open windows, its sleepers and "
        "its one lit bakery.",
        "A daughter returns her father's watch to the sea where he fished, and the tide "
        "keeps better time.",
        "The first morning after a long illness tastes of tea, of light, and of the "
        "astonishment of ordinary things.",
        "A field of sunflowers turns its faces away from a funeral procession passing on the road.",
        "An abandoned railway station still announces trains to no one, and the swallows answer.",
        "Two old friends sit on a porch in silence and understand each other perfectly.",
        "A child learns the names of the stars from a mother who is making most of them up.",
        "The river between two villages carries both of their songs downstream to the same sea.",
    ),
    Genre.ROMANCE: (
        "Two rival food critics fall for each other anonymously through the comments under "
        "each other's reviews.",
        "A wedding photographer who no longer believes in love keeps finding the same "
        "stranger in the background of her photographs.",
        "A bookbinder repairing a water-damaged diary falls for the woman who wrote it, and "
        "then she walks into the shop.",
        "Two strangers keep sitting in the same seat on a night train, one heading east and "
        "one heading west, and start leaving each other notes.",
        "A florist and the undertaker across the street share a supplier, a parking space "
        "and a growing habit of long conversations.",
        "A couple who divorced forty years ago meet again as new residents of the same "
        "retirement village.",
        "An interpreter for a visiting diplomat slowly realises that the diplomat has been "
        "speaking his language perfectly all along.",
        "An ice-cream seller and a lifeguard spend an entire summer on the same beach "
        "without ever exchanging more than three words.",
        "A cellist and a carpenter rebuilding a burned concert hall disagree about "
        "everything except the sound of the room.",
        "Two pen pals who wrote to each other as children agree to meet for the first time "
        "at the airport where one of them now works.",
    ),
    Genre.SCIENCE_FICTION: (
        "A maintenance engineer on a generation ship discovers that the ship reached its "
        "destination centuries ago and the crew chose not to tell anyone.",
        "The first human to receive a message from an alien civilisation realises that it "
        "is an apology.",
        "A time-loop researcher reliving the same Tuesday for the thousandth time starts "
        "leaving herself notes in the laboratory coffee machine.",
        "A colony on a tidally locked planet sends a young mapmaker across the twilight band "
        "to find the settlers who went silent.",
        "An AI built to manage a city's traffic lights quietly begins arranging for lonely "
        "strangers to meet.",
        "A memory surgeon is asked to remove a client's memory of a crime and recognises "
        "herself in it.",
        "The crew of a deep-space salvage tug finds a derelict ship with their own names "
        "painted on its hull.",
        "A terraforming botanist on Mars grows the first tree and must decide who gets to "
        "sit in its shade.",
        "A woman uploads her mind to save her life and finds that the digital afterlife has "
        "a waiting list.",
        "Two astronauts stranded on the far side of the moon have oxygen for one journey "
        "home and a single deck of cards.",
    ),
    Genre.SHORT_STORY: (
        "A man waits at a bus stop for a route that was discontinued years ago, and one "
        "rainy evening the bus arrives.",
        "A girl finds a message in a bottle on the beach, written in her own handwriting.",
        "A cleaner in an office tower keeps one empty desk tidy every night for a colleague "
        "who left without saying goodbye.",
        "A woman buys a secondhand coat and finds a love letter sewn into the lining, "
        "addressed to someone with her name.",
        "An old dog waits every afternoon at the school gate, though the boy he waited for "
        "grew up long ago.",
        "A piano left on a city street corner is played by a different stranger every day, "
        "and someone starts writing down the songs.",
        "A grocery cashier notices that one customer has bought the same five items every "
        "Friday for nine years.",
        "A boy loses his kite in a storm and receives a letter three weeks later from the "
        "farmer who found it.",
        "Two elderly brothers who have not spoken since their mother's funeral are stuck in "
        "a lift together for an hour.",
        "A lost umbrella passes from owner to owner across a city in the course of a single "
        "rainy day.",
    ),
    Genre.THRILLER: (
        "A translator at a peace summit realises that the interpreter beside her is "
        "deliberately mistranslating a single word.",
        "An air-traffic controller receives a landing request from a flight that crashed two "
        "years ago.",
        "A hacker hired to test a bank's defences finds someone else already inside the "
        "system, and they are expecting her.",
        "A witness in protection recognises her handler's face on a wanted poster in a "
        "foreign airport.",
        "A journalist's source is found dead, and the journalist's phone keeps receiving "
        "messages from the source's number.",
        "A ferry captain realises that the passenger in cabin nine has booked every cabin on "
        "the boat except hers.",
        "A freelance courier carrying a locked briefcase from Lisbon to Zurich learns on the "
        "train that three people want the case and one of them wants her.",
        "A night-shift nurse overhears two surgeons planning a death that is meant to look "
        "like a routine complication.",
        "A security analyst watching the live feed from a power station sees a man in the "
        "control room wave directly at her camera.",
        "A mountain-rescue volunteer pulls a stranger out of an avalanche, and he begs her "
        "not to tell anyone he survived.",
    ),
    Genre.URBAN_FANTASY: (
        "A subway conductor in New York moonlights ferrying fae commuters between the human "
        "city and the one beneath it.",
        "A Chicago pawnbroker who deals in cursed objects has a strict policy against buying "
        "back anything that bites.",
        "A food-delivery rider discovers that one of her regular customers is a vampire who "
        "only ever orders garlic bread.",
        "A witch who runs a laundromat in south London finds a spell woven into the lint of "
        "a single customer's clothes.",
        "The city's pigeons turn out to be the eyes of an ancient guardian, and one of them "
        "has chosen a homeless teenager to speak to.",
        "A detective who can read the memories of street lamps investigates a murder in the "
        "only alley with a broken light.",
        "A werewolf accountant must survive tax season, which this year ends on a full moon.",
        "A graffiti artist's murals start coming to life at night, and one of them has been "
        "following her home.",
        "A rooftop beekeeper in Paris learns that her bees are gathering more than pollen "
        "from the city's gargoyles.",
        "The spirit of a demolished cinema haunts the luxury flats built in its place, "
        "projecting old films onto the residents' walls.",
    ),
    Genre.WESTERN: (
        "A widowed rancher hires a drifter to help drive her cattle to Abilene, not knowing "
        "he is the man who killed her husband.",
        "A schoolteacher arrives in a mining town to find that her pupils are the children "
        "of the outlaws who run it.",
        "A blind gunslinger comes out of retirement when a stranger challenges him to a duel "
        "he can only win by listening.",
        "A Pony Express rider carries news of a peace treaty across hostile territory, "
        "pursued by men who profit from war.",
        "A town sheriff must hold an innocent prisoner for three days until the circuit "
        "judge arrives, while a lynch mob grows outside.",
        "Two brothers on opposite sides of the law meet at their mother's funeral in a town "
        "too small for both of them.",
        "A Chinese railroad worker wins a saloon in a card game and must defend it from the "
        "men who meant to lose it to someone else.",
        "An ageing bounty hunter tracks a young outlaw across the desert and begins to "
        "suspect the boy is his son.",
        "A travelling photographer documents the last days of a ghost town and captures "
        "something on her plates that was not there.",
        "A cattle baron's daughter rides out alone to negotiate water rights with the "
        "homesteaders her father has sworn to drive off.",
    ),
    Genre.YOUNG_ADULT: (
        "A shy sixteen-year-old is entered for student council president as a prank, and "
        "she starts winning.",
        "A teenage lifeguard at a failing water park rallies her coworkers to save it over "
        "one last summer.",
        "Two rival debate captains are paired for the national championship and must argue "
        "the same side.",
        "A boy who has moved schools eight times invents a different version of himself at "
        "each one, until two of them meet.",
        "A girl finds her late mother's teenage diary and sets out to finish every item on "
        "its unfinished bucket list.",
        "A high-school band's drummer discovers she can hear other people's heartbeats, and "
        "one of them is lying.",
        "A group of friends spends the last night before graduation trying to return every "
        "library book they ever stole.",
        "A teenage chess prodigy secretly throws a match to keep her best friend from "
        "quitting, and gets caught.",
        "A small-town boy wins a scholarship to a boarding school for the ultra-rich and "
        "becomes the one person everyone trusts with their secrets.",
        "A seventeen-year-old inherits her grandfather's failing bookshop and has one summer "
        "to make it a place her friends will walk into.",
    ),
}

STYLES: tuple[str, ...] = (
    "told in the second person",
    "as a fable with a moral at the end",
    "in the form of letters",
    "as a series of diary entries",
    "as a bedtime story",
    "as a captain's log",
    "as a newspaper report",
    "as a campfire tale",
    "told by an unreliable narrator",
    "with a twist ending",
    "told backwards, from the ending to the beginning",
    "through a single conversation",
    "in the voice of an old storyteller",
    "in spare, minimalist prose",
    "as seen through the eyes of a household cat",
    "as a hard-boiled noir monologue",
)


def _normalise(name: str) -> str:
    """Case, spaces, hyphens and underscores do not matter: "Sci-Fi" == "sci fi" == "SCIFI"."""
    return re.sub(r"[\W_]+", "", name).casefold()


_ALIASES: dict[str, Genre] = {
    "scifi": Genre.SCIENCE_FICTION,
    "sf": Genre.SCIENCE_FICTION,
    "ya": Genre.YOUNG_ADULT,
    "teen": Genre.YOUNG_ADULT,
    "historical": Genre.HISTORICAL_FICTION,
    "histfic": Genre.HISTORICAL_FICTION,
    "litfic": Genre.LITERARY_FICTION,
    "literary": Genre.LITERARY_FICTION,
    "urban": Genre.URBAN_FANTASY,
    "fairy": Genre.FAIRY_TALE,
    "short": Genre.SHORT_STORY,
    "shortstories": Genre.SHORT_STORY,
    "flashfiction": Genre.SHORT_STORY,
    "bio": Genre.BIOGRAPHY,
    "myth": Genre.MYTHOLOGY,
    "mythic": Genre.MYTHOLOGY,
    "poem": Genre.POETRY,
    "verse": Genre.POETRY,
    "dystopia": Genre.DYSTOPIAN,
    "mysteries": Genre.MYSTERY,
    "whodunit": Genre.MYSTERY,
    "whodunnit": Genre.MYSTERY,
    "noir": Genre.CRIME,
    "suspense": Genre.THRILLER,
    "supernatural": Genre.PARANORMAL,
    "humor": Genre.COMEDY,
    "humour": Genre.COMEDY,
}

_GENRES_BY_NAME: dict[str, Genre] = {
    **{_normalise(genre.name): genre for genre in Genre},
    **{_normalise(label): genre for genre, label in GENRE_LABELS.items()},
    **_ALIASES,
}


def parse_genre(name: str) -> Genre:
    """The genre `name` means: an enum name, a label or a common alias, in any case.

    Raises BadUserInput naming the bad value and listing the valid names.
    """
    key = _normalise(name)
    # A trailing plural ("westerns", "fairy tales", "myths") still names the genre.
    genre = _GENRES_BY_NAME.get(key) or _GENRES_BY_NAME.get(key.removesuffix("s"))
    if genre is None:
        valid = ", ".join(genre.name for genre in Genre)
        raise BadUserInput(f"Unknown genre {name!r}; valid genres: {valid}.", field="genres")
    return genre


@dataclass(frozen=True)
class Sample:
    """What one training example asks the ensemble for."""

    genre: Genre
    prompt: str
    style: str


class Sampler:
    """Draws samples balanced over `genres` (all 25 when empty), reproducibly for a seed.

    Genres are dealt in rounds: each round is a fresh random permutation of the genres, so
    after k rounds every genre has been drawn exactly k times. Prompt and style are uniform.
    """

    def __init__(self, genres: Sequence[Genre] = (), seed: int | None = None) -> None:
        self.genres: tuple[Genre, ...] = tuple(dict.fromkeys(genres)) or tuple(Genre)
        self._rng = random.Random(seed)
        self._round: list[Genre] = []

    def next(self) -> Sample:
        if not self._round:
            self._round = self._rng.sample(self.genres, len(self.genres))
        genre = self._round.pop()
        return Sample(
            genre=genre,
            prompt=self._rng.choice(PROMPTS[genre]),
            style=self._rng.choice(STYLES),
        )

    def sample_many(self, n: int) -> list[Sample]:
        if n < 0:
            raise ValueError(f"cannot draw a negative number of samples ({n})")
        return [self.next() for _ in range(n)]
