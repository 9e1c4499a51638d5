//! Name tables and weighted draws from them.
//!
//! British surnames have an explicit head (shares per thousand of British
//! people, Smith about 1.2%) and a long tail: a few hundred listed names and
//! about a thousand more formed from English place-name parts (`Ash` +
//! `worth`), each weighted by a slowly falling power of its rank. Forenames
//! are ranked lists per birth cohort and sex. Other origins have their own
//! lists. Variant groups hold the spellings agencies record for one name.

use std::collections::BTreeMap;

use rand::Rng;

use crate::population::{Origin, Sex};

/// Head of the British surname distribution, per thousand British people.
const SURNAME_HEAD: &[(&str, f64)] = &[
    ("Smith", 12.0),
    ("Jones", 9.5),
    ("Williams", 7.0),
    ("Taylor", 5.5),
    ("Brown", 5.5),
    ("Davies", 5.0),
    ("Evans", 3.8),
    ("Wilson", 3.6),
    ("Thomas", 3.5),
    ("Johnson", 3.4),
    ("Roberts", 3.3),
    ("Robinson", 2.9),
    ("Thompson", 2.9),
    ("Wright", 2.8),
    ("Walker", 2.7),
    ("White", 2.6),
    ("Edwards", 2.5),
    ("Hughes", 2.5),
    ("Green", 2.4),
    ("Hall", 2.4),
    ("Wood", 2.3),
    ("Harris", 2.3),
    ("Lewis", 2.2),
    ("Martin", 2.2),
    ("Jackson", 2.1),
    ("Clarke", 2.1),
    ("Clark", 2.0),
    ("Turner", 1.9),
    ("Hill", 1.9),
    ("Scott", 1.9),
    ("Cooper", 1.8),
    ("Morris", 1.8),
    ("Ward", 1.8),
    ("Moore", 1.7),
    ("King", 1.7),
    ("Watson", 1.7),
    ("Baker", 1.7),
    ("Harrison", 1.6),
    ("Morgan", 1.6),
    ("Young", 1.6),
    ("Allen", 1.5),
    ("Mitchell", 1.5),
    ("James", 1.5),
    ("Anderson", 1.4),
    ("Phillips", 1.4),
    ("Lee", 1.4),
    ("Bell", 1.4),
    ("Parker", 1.4),
    ("Davis", 1.3),
];

/// Listed tail of British surnames, roughly by falling frequency.
const SURNAME_TAIL: &str = "Kelly Murphy Cook Richardson Shaw Graham Adams Campbell Collins Simpson \
Chapman Price Bennett Griffiths Lloyd Owen Webb Mason Ellis Palmer Fox Pearson Holland Lawrence \
Rogers Gray Matthews Fisher Cole Pearce Knight Butler Barker Russell Dixon Reid Murray Hunt \
Stewart Harvey Spencer Hudson Gibson Atkinson Foster Mills Hamilton Rose Hayes Grant Burton \
Dawson Lane Lambert Sutton Jenkins Barnes Cox Carter Dean Riley Fletcher Kennedy Newman Powell \
Bailey Stone Howard Saunders Payne Pritchard Black Gardner Wells Wade Barton Holt Nicholson Nash \
Booth Hodgson Whitehead Ashworth Heaton Sykes Crossley Greenwood Haigh Brook Firth Lumb Pickles \
Barraclough Sugden Holroyd Wilkinson Wainwright Ackroyd Gledhill Priestley Crowther Horsfall \
Bairstow Bottomley Illingworth Rushworth Midgley Pollard Scholes Thackray Whiteley Jagger Oldroyd \
Kershaw Mellor Ogden Schofield Stansfield Tattersall Butterworth Heywood Duckworth Entwistle \
Fairclough Hesketh Howarth Lord Nuttall Pilling Ramsbottom Wolstenholme Shepherd Walsh Burke Byrne \
Doyle Brennan Quinn Gallagher Doherty McDonald McKenzie Fraser Ross Hunter Boyle Cameron Duncan \
Paterson Ferguson Robertson Johnston Gordon Morrison Henderson Lowe Hartley Bradley Chambers \
Freeman Hart Hopkins Lamb Little Moss Newton Nixon Norris Parsons Perkins Porter Reynolds Rhodes \
Rowe Sharp Slater Steele Summers Swift Thornton Tucker Vaughan Walton Warren Watts Webster West \
Wheeler Whittaker Wilkins Willis Woods Yates Ball Barrett Bates Berry Bishop Bond Bradshaw Bull \
Burgess Burns Carr Cartwright Chadwick Dale Day Dunn Farrell Field Francis Frost Gibbs Goodwin \
Gould Hancock Hardy Hewitt Higgins Hobbs Holden Hope Horton Hull Hurst Jarvis Jennings Jordan Kay \
Kemp Kent Lees Lister Lucas Mann Marsh May Miles Nelson Noble North O'Brien O'Connor O'Neill \
Osborne Page Pope Potter Preston Read Richards Sanderson Savage Sheppard Short Sims Stanley Tyler \
Underwood Wallace Walters Weston Winter Wyatt";

/// Place-name parts combined into further tail surnames.
const TAIL_STEMS: &str = "Ash Black Brad Brom Cal Cart Chat Crom Dal Den Eld Fair Farn Gold Hal \
Hart Hay Hol Kirk Lang Lind Mar Mid Moor Nor Oak Pen Red Rid Rock Rom Rush Shel South Stan Stock \
Thorn Wake Wal West Whit Wind Wool Bur";
const TAIL_ENDS: &str = "ley ton field ford wood worth ham by well croft bury den more stone hurst \
combe wick shaw bridge dale gate house land thwaite";

/// Forenames of children born 2007–2024, most popular first.
const BOYS_RECENT: &str = "Oliver Jack Harry George Noah Charlie Jacob Alfie Freddie Oscar Leo \
Logan Archie Theo Thomas James Joshua William Henry Ethan Isaac Alexander Joseph Samuel Daniel \
Lucas Max Mason Riley Dylan Harrison Edward Jayden Finley Adam Tyler Lewis Callum Benjamin Matthew \
Ryan Liam Kyle Connor Jake Luke Nathan Cameron Kai Reuben Toby Louie Arthur Teddy Tommy Bobby \
Frankie Ronnie Albie Reggie Elliot Harvey Jenson Sebastian Zachary Rory Owen Aaron Bradley Declan \
Jamie Kieran Michael David Christopher Jordan Brandon Charles Luca";
const GIRLS_RECENT: &str = "Olivia Amelia Isla Ava Emily Jessica Lily Sophie Chloe Grace Ella Mia \
Evie Poppy Isabella Sophia Freya Ruby Daisy Charlotte Alice Florence Rosie Millie Phoebe Scarlett \
Matilda Holly Lucy Megan Hannah Katie Ellie Lauren Bethany Abigail Erin Molly Amber Leah Eva \
Imogen Harriet Lola Willow Ivy Elsie Maisie Layla Summer Jasmine Niamh Caitlin Paige Courtney \
Shannon Jade Amy Rebecca Georgia Madison Eleanor Aimee Keira Tilly Sienna Elizabeth Victoria \
Alexandra Samantha Zara Harper Maya Esme Darcy Brooke Libby Skye";
/// Forenames of adults born about 1955–2000, most popular first.
const MEN_EARLIER: &str = "David John Paul Mark Michael Andrew James Stephen Steven Richard Robert \
Christopher Peter Ian Gary Darren Lee Craig Neil Simon Martin Anthony Kevin Jason Wayne Dean Carl \
Stuart Matthew Daniel Thomas William Jonathan Scott Shaun Philip Graham Keith Alan Colin Nigel \
Trevor Adrian Russell Barry Kenneth Gareth Ryan Adam Ben Benjamin Nicholas Timothy Glenn Jamie \
Joseph Edward Samuel Alexander Robin";
const WOMEN_EARLIER: &str = "Sarah Lisa Claire Emma Nicola Karen Julie Michelle Helen Joanne Louise \
Rachel Kelly Laura Donna Tracey Amanda Susan Deborah Elizabeth Victoria Rebecca Gemma Samantha \
Jennifer Kerry Natalie Stephanie Hayley Catherine Katherine Jane Alison Angela Dawn Sharon Wendy \
Jacqueline Caroline Zoe Charlotte Jessica Amy Danielle Leanne Stacey Kirsty Sophie Hannah Lucy \
Jodie Carly Anna Kate Margaret";

/// Forenames (male, female) and surnames of the other origins.
const OTHER_ORIGINS: [(Origin, &str, &str, &str); 5] = [
    (
        Origin::SouthAsian,
        "Mohammed Muhammad Ali Hamza Ibrahim Yusuf Zain Ayaan Arjun Aarav Rohan Harjit Amir Bilal \
         Imran Faisal Adil Rizwan Sanjay Vikram Ravi Kabir Haris Rayyan Tariq Asif Shahid Nadeem \
         Rajesh Sunil Jaswinder Abdullah",
        "Aisha Fatima Maryam Zainab Khadija Amira Hafsa Inaya Anaya Priya Simran Jasleen Navneet \
         Harleen Sana Noor Iqra Alisha Nadia Shabana Rubina Nasreen Parveen Rukhsana Ayesha",
        "Patel Khan Hussain Ahmed Ali Shah Singh Iqbal Akhtar Mahmood Rahman Islam Uddin Miah \
         Chaudhry Sharma Kumar Mistry Malik Rashid Anwar Aziz Bashir Javed Sandhu Gill Dhillon",
    ),
    (
        Origin::Arabic,
        "Mohammed Ahmed Omar Yusuf Ibrahim Khalid Abdullah Hassan Hussein Mustafa Karim Tariq Sami \
         Adam Ali Mahmoud Rami Ziad",
        "Fatima Aisha Maryam Zainab Layla Nour Huda Amal Salma Yasmin Rania Hana Sara Dina Reem",
        "Mohammed Ahmed Ali Hassan Hussein Abdullah Ibrahim Osman Mahmoud Saleh Haddad Mansour \
         Nasser Khalil Yousef Omar Abbas Farah Hamid Jaber Rahim",
    ),
    (
        Origin::EastEuropean,
        "Jakub Kacper Szymon Mateusz Filip Aleksander Lukasz Piotr Tomasz Krzysztof Marek Andrei \
         Mihai Alexandru Ionut Bogdan Lukas Mantas Jonas Dominik Patryk Oskar Vasile",
        "Zuzanna Julia Maja Oliwia Katarzyna Agnieszka Magdalena Natalia Anna Joanna Ioana Andreea \
         Elena Maria Gabriela Ieva Greta Emilija Alina Daria Wiktoria Monika",
        "Kowalski Nowak Wisniewski Wojcik Kowalczyk Kaminski Lewandowski Zielinski Szymanski \
         Wozniak Dabrowski Mazur Krawczyk Popescu Ionescu Popa Dumitru Munteanu Kazlauskas \
         Petrauskas Jankauskas Balciunas Horvath Novak Svoboda Dvorak Petrov",
    ),
    (
        Origin::WestAfrican,
        "Oluwaseun Adebayo Chukwuemeka Chinedu Emeka Kwame Kofi Kwabena Yaw Tunde Olumide \
         Babajide Ayodele Femi Obinna Ikenna Samuel David Daniel Emmanuel Joshua Isaac Godwin",
        "Adaeze Chiamaka Ngozi Folake Funmilayo Ayomide Temitope Abena Akosua Ama Efua Yetunde \
         Oluwaseyi Blessing Precious Grace Esther Deborah Favour Chioma",
        "Adeyemi Okafor Mensah Boateng Chukwu Oluwaseun Adebayo Okonkwo Nwosu Eze Ogunleye Owusu \
         Asante Osei Appiah Agyeman Bello Afolabi Balogun Adewale Obi Okoro Danso Ofori",
    ),
    (
        Origin::Turkish,
        "Mehmet Mustafa Ahmet Ali Emre Yusuf Burak Can Kerem Eren Omer Hasan Huseyin Murat Serkan \
         Deniz Arda Efe",
        "Elif Zeynep Ayse Fatma Emine Merve Ecem Defne Asli Ebru Hatice Melek Selin Buse Esra",
        "Yilmaz Kaya Demir Celik Sahin Yildiz Yildirim Ozturk Aydin Ozdemir Arslan Dogan Kilic \
         Aslan Cetin Kara Koc Kurt Ozkan Simsek",
    ),
];

/// Spellings agencies record for one name (transliterations, diacritics),
/// one group per `/`-separated word.
const VARIANTS: &str = "Mohammed/Muhammad/Mohamed/Mohammad/Muhammed Ahmed/Ahmad \
    Hussain/Hussein/Husain/Hossain Fatima/Fatimah Aisha/Ayesha/Aysha Yusuf/Yousef/Youssef/Yousuf \
    Aleksander/Aleksandr/Alexander Katarzyna/Katarzina Oluwaseun/Oluwasheun Olusegun/Olushegun \
    Omar/Umar/Omer/Ömer Hassan/Hasan Mahmoud/Mahmood/Mahmud Abdullah/Abdulla/Abdallah \
    Ibrahim/Ebrahim/Ibraheem Mustafa/Mostafa/Moustafa Zainab/Zaynab/Zeinab Maryam/Mariam \
    Khadija/Khadijah Layla/Leila/Laila Nour/Noor Rahman/Rehman Chaudhry/Choudhury/Chowdhury/Chaudhary \
    Huseyin/Hüseyin Celik/Çelik Ozturk/Öztürk Ozdemir/Özdemir Sahin/Şahin Yildiz/Yıldız Ayse/Ayşe \
    Lukasz/Łukasz Wisniewski/Wiśniewski Wojcik/Wójcik Dabrowski/Dąbrowski Balciunas/Balčiūnas \
    Kwabena/Kwabina Mensah/Mensa";

/// Formal forename → the short forms agencies write down.
const NICKNAMES: &str = "William:Bill,Will,Billy Elizabeth:Beth,Liz,Lizzie Robert:Bob,Rob,Bobby \
    Jonathan:Jon,Jonny Alexander:Alex,Xander Thomas:Tom,Tommy Mohammed:Mo Muhammad:Mo \
    James:Jim,Jamie Joseph:Joe Daniel:Dan,Danny Samuel:Sam Benjamin:Ben Matthew:Matt \
    Christopher:Chris Michael:Mike,Mick Anthony:Tony,Ant Richard:Rich,Rick Edward:Ed,Eddie,Ted \
    Joshua:Josh Nathan:Nate Charlotte:Charlie,Lottie Rebecca:Becky,Becca Katherine:Kate,Katie \
    Catherine:Cath,Cathy Jessica:Jess Samantha:Sam,Sammy Victoria:Vicky,Tori Margaret:Maggie,Peggy \
    Abigail:Abbie,Abby Olivia:Liv Amelia:Millie Isabella:Bella,Izzy Alexandra:Alex,Lexi \
    Nicola:Nicky Stephen:Steve Steven:Steve David:Dave Andrew:Andy,Drew Jennifer:Jen,Jenny \
    Aleksander:Olek Katarzyna:Kasia Oluwaseun:Seun Oluwaseyi:Seyi Ayodele:Ayo Abdullah:Abdul Frederick:Freddie,Fred \
    Harrison:Harry Zachary:Zac,Zach Sebastian:Seb Eleanor:Ellie,Nell Gabriela:Gabi Kenneth:Ken,Kenny \
    Timothy:Tim Nicholas:Nick Philip:Phil Deborah:Debbie,Debs Jacqueline:Jackie Susan:Sue \
    Temitope:Tope Babajide:Jide Olumide:Mide Chukwuemeka:Emeka";

/// A list of names with cumulative weights, for drawing by weight.
#[derive(Debug, Clone)]
pub struct Pool {
    names: Vec<String>,
    cumulative: Vec<f64>,
}

impl Pool {
    fn from_weighted(pairs: impl IntoIterator<Item = (String, f64)>) -> Pool {
        let mut names = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0.0;
        for (name, weight) in pairs {
            if names.contains(&name) {
                continue;
            }
            total += weight;
            names.push(name);
            cumulative.push(total);
        }
        Pool { names, cumulative }
    }

    /// A ranked list of forenames: weight `1 / (rank + 5)^0.6`, so the top
    /// name takes a few percent and the last still turns up.
    fn ranked(words: &str) -> Pool {
        Pool::ranked_by(words, 6.0, 0.6)
    }

    /// A ranked list weighted `1 / (rank + offset - 1)^exponent`.
    fn ranked_by(words: &str, offset: f64, exponent: f64) -> Pool {
        Pool::from_weighted(words.split_whitespace().enumerate().map(|(rank, w)| (w.to_owned(), (rank as f64 + offset).powf(-exponent))))
    }

    /// Draws one name by weight.
    pub fn draw(&self, rng: &mut impl Rng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = rng.gen::<f64>() * total;
        let index = self.cumulative.partition_point(|c| *c <= target);
        &self.names[index.min(self.names.len() - 1)]
    }

    /// The share of the whole weight held by `name`.
    pub fn share(&self, name: &str) -> f64 {
        let Some(i) = self.names.iter().position(|n| n == name) else { return 0.0 };
        let before = if i == 0 { 0.0 } else { self.cumulative[i - 1] };
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        (self.cumulative[i] - before) / total
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Every pool the generator draws from.
#[derive(Debug, Clone)]
pub struct Names {
    /// British surnames.
    pub british_surnames: Pool,
    /// (boys, girls) born 2007 or later.
    pub recent: (Pool, Pool),
    /// (men, women) born before 2007.
    pub earlier: (Pool, Pool),
    /// Per other origin: (male forenames, female forenames, surnames).
    pub others: Vec<(Origin, Pool, Pool, Pool)>,
    variants: Vec<Vec<&'static str>>,
    nicknames: BTreeMap<&'static str, Vec<&'static str>>,
}

impl Names {
    /// Builds the pools.
    pub fn new() -> Names {
        let head = SURNAME_HEAD.iter().map(|(n, w)| ((*n).to_owned(), *w));
        let stems: Vec<&str> = TAIL_STEMS.split_whitespace().collect();
        let ends: Vec<&str> = TAIL_ENDS.split_whitespace().collect();
        // Interleave the formed names so that no one stem takes a run of ranks.
        let formed =
            (0..stems.len() * ends.len()).map(|k| format!("{}{}", stems[k % stems.len()], ends[(k / stems.len() + 5 * (k % stems.len())) % ends.len()]));
        let tail = SURNAME_TAIL.split_whitespace().map(str::to_owned).chain(formed);
        let tail = tail.enumerate().map(|(i, n)| {
            let rank = (i + SURNAME_HEAD.len() + 1) as f64;
            (n, 1.3 * (SURNAME_HEAD.len() as f64 / rank).powf(0.3))
        });
        let others = OTHER_ORIGINS
            .iter()
            // Surnames of these origins cluster more: Khan and Patel, Nowak,
            // Yilmaz each take a tenth or so.
            .map(|(o, m, f, s)| (*o, Pool::ranked(m), Pool::ranked(f), Pool::ranked_by(s, 3.0, 0.9)))
            .collect();
        Names {
            british_surnames: Pool::from_weighted(head.chain(tail)),
            recent: (Pool::ranked(BOYS_RECENT), Pool::ranked(GIRLS_RECENT)),
            earlier: (Pool::ranked(MEN_EARLIER), Pool::ranked(WOMEN_EARLIER)),
            others,
            variants: VARIANTS.split_whitespace().map(|g| g.split('/').collect()).collect(),
            nicknames: NICKNAMES
                .split_whitespace()
                .filter_map(|entry| entry.split_once(':'))
                .map(|(formal, short)| (formal, short.split(',').collect()))
                .collect(),
        }
    }

    /// The spellings of the variant group holding `name`, if any.
    pub fn variants_of(&self, name: &str) -> Option<&[&'static str]> {
        self.variants.iter().find(|group| group.contains(&name)).map(Vec::as_slice)
    }

    /// The short forms of a forename.
    pub fn nicknames_of(&self, name: &str) -> &[&'static str] {
        self.nicknames.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A forename for someone of this origin, sex and birth year.
    pub fn forename(&self, rng: &mut impl Rng, origin: Origin, sex: Sex, born: i32) -> String {
        let pool = match (origin, sex) {
            (Origin::British, Sex::Male) if born >= 2000 => &self.recent.0,
            (Origin::British, Sex::Female) if born >= 2000 => &self.recent.1,
            (Origin::British, Sex::Male) => &self.earlier.0,
            (Origin::British, Sex::Female) => &self.earlier.1,
            (o, s) => {
                let (_, m, f, _) = self.other(o);
                if s == Sex::Male {
                    m
                } else {
                    f
                }
            }
        };
        pool.draw(rng).to_owned()
    }

    /// A family surname for a household of this origin.
    pub fn surname(&self, rng: &mut impl Rng, origin: Origin) -> String {
        match origin {
            Origin::British => self.british_surnames.draw(rng).to_owned(),
            o => self.other(o).3.draw(rng).to_owned(),
        }
    }

    fn other(&self, origin: Origin) -> &(Origin, Pool, Pool, Pool) {
        self.others.iter().find(|(o, ..)| *o == origin).unwrap_or(&self.others[0])
    }
}

impl Default for Names {
    fn default() -> Self {
        Names::new()
    }
}

/// The surname a person of `sex` carries when the family name is `family`:
/// Polish and Czech names take their feminine forms, Lithuanian ones the
/// married (`-ienė`) or maiden (`-aitė`) form, Sikh women Kaur.
pub fn gendered_surname(family: &str, sex: Sex, adult: bool) -> String {
    if sex == Sex::Male {
        return family.to_owned();
    }
    if family == "Singh" {
        return "Kaur".to_owned();
    }
    for (male, female) in [("ski", "ska"), ("cki", "cka")] {
        if let Some(stem) = family.strip_suffix(male) {
            return format!("{stem}{female}");
        }
    }
    if let Some(stem) = family.strip_suffix("as") {
        if family.ends_with("kas") || family.ends_with("nas") {
            return format!("{stem}{}", if adult { "ienė" } else { "aitė" });
        }
    }
    if ["Novak", "Svoboda", "Dvorak"].contains(&family) {
        return format!("{}ová", family.trim_end_matches('a'));
    }
    family.to_owned()
}

/// Street names for address lines: a word and a kind of road.
pub fn street(rng: &mut impl Rng) -> String {
    const WORDS: &str = "Acacia Albert Beech Church Clarendon Elm Grange Hawthorn Highfield Kings \
        Manor Mill Oak Park Queens Station Victoria Willow York Chapel Cross Dale Fern Green Hollin \
        Lime Moor Orchard Quarry Rose School Spring Thornhill Vicarage Well Woodland";
    const KINDS: [&str; 12] = ["Road", "Street", "Avenue", "Lane", "Close", "Grove", "Terrace", "Way", "Drive", "Crescent", "Gardens", "Place"];
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let word = words[rng.gen_range(0..words.len())];
    format!("{} {} {}", rng.gen_range(1..=180), word, KINDS[rng.gen_range(0..KINDS.len())])
}
