#!/usr/bin/env python3
"""Independent generator of a UK multi-agency child-safeguarding extract.

    gen.py --out DIR [--seed N] [--households N]

Writes DIR/{CSC,POL,YOT,VOL}.csv + .mapping.toml, DIR/people.csv (cleartext
truth with tags), DIR/manifest.json. Every row carries true_id (hidden).
"""
import argparse, csv, json, random, string, datetime as dt
from pathlib import Path

D = dt.date

# ---------------------------------------------------------------- name pools
# (name, weight). Weights roughly follow ONS/England & Wales frequencies.
WB_SURNAMES = [("Smith", 120), ("Jones", 90), ("Williams", 70), ("Taylor", 60), ("Brown", 58),
    ("Davies", 50), ("Evans", 40), ("Wilson", 38), ("Thomas", 36), ("Johnson", 35), ("Roberts", 34),
    ("Robinson", 30), ("Thompson", 30), ("Wright", 29), ("Walker", 28), ("White", 27), ("Edwards", 26),
    ("Hughes", 25), ("Green", 25), ("Hall", 24), ("Lewis", 23), ("Harris", 23), ("Clarke", 22),
    ("Jackson", 21), ("Wood", 21), ("Turner", 20), ("Martin", 20), ("Cooper", 19), ("Hill", 19),
    ("Ward", 18), ("Morris", 18), ("Moore", 17), ("Clark", 17), ("Lee", 17), ("King", 16), ("Baker", 16),
    ("Harrison", 15), ("Morgan", 15), ("Allen", 14), ("James", 14), ("Scott", 14), ("Phillips", 13),
    ("Watson", 13), ("Davis", 12), ("Parker", 12), ("Price", 12), ("Bennett", 11), ("Young", 11),
    ("Griffiths", 11), ("Mitchell", 11), ("Kelly", 10), ("Cook", 10), ("Carter", 10), ("Richardson", 9),
    ("Bailey", 9), ("Collins", 9), ("Bell", 9), ("Shaw", 8), ("Murphy", 8), ("Miller", 8), ("Cox", 8),
    ("Richards", 8), ("Marshall", 7), ("Anderson", 7), ("Simpson", 7), ("Ellis", 7), ("Adams", 7),
    ("O'Brien", 5), ("McDonald", 5), ("Fletcher", 4), ("Barnes", 5), ("Holmes", 4), ("Lloyd", 4),
    ("Atkinson", 4), ("Stevenson", 3), ("Whitehead", 3), ("Ashworth", 2), ("Pickering", 2), ("Sutcliffe", 2)]
WB_BOYS = [("Oliver", 50), ("Jack", 48), ("Harry", 45), ("George", 38), ("Noah", 35), ("Charlie", 35),
    ("Jacob", 33), ("Alfie", 32), ("Freddie", 28), ("Oscar", 27), ("Leo", 27), ("Thomas", 30), ("James", 30),
    ("William", 25), ("Joshua", 28), ("Archie", 24), ("Henry", 20), ("Logan", 18), ("Riley", 18),
    ("Mason", 18), ("Ethan", 20), ("Dylan", 17), ("Kai", 12), ("Tyler", 15), ("Callum", 12), ("Liam", 12),
    ("Lewis", 14), ("Daniel", 15), ("Samuel", 14), ("Joseph", 14), ("Alexander", 12), ("Max", 11),
    ("Harvey", 14), ("Jayden", 12), ("Kyle", 8), ("Connor", 10), ("Bradley", 7), ("Robert", 6), ("Reece", 6)]
WB_GIRLS = [("Olivia", 50), ("Amelia", 50), ("Isla", 35), ("Ava", 33), ("Emily", 35), ("Sophia", 22),
    ("Grace", 28), ("Mia", 28), ("Poppy", 25), ("Ella", 26), ("Lily", 30), ("Jessica", 25), ("Chloe", 22),
    ("Ruby", 24), ("Evie", 22), ("Sophie", 24), ("Isabella", 18), ("Freya", 16), ("Ellie", 20),
    ("Charlotte", 20), ("Millie", 16), ("Daisy", 14), ("Phoebe", 12), ("Holly", 12), ("Megan", 14),
    ("Leah", 12), ("Lacey", 8), ("Courtney", 6), ("Abigail", 10), ("Katie", 10), ("Elizabeth", 8),
    ("Rosie", 10), ("Maya", 8), ("Isabel", 6), ("Amelie", 4), ("Lexi", 6), ("Chantelle", 3)]
WB_MEN = [("David", 40), ("Paul", 35), ("Mark", 33), ("Michael", 35), ("Andrew", 30), ("Christopher", 28),
    ("Daniel", 22), ("Lee", 20), ("Wayne", 15), ("Darren", 15), ("Craig", 14), ("Stephen", 18),
    ("John", 25), ("James", 22), ("Richard", 15), ("Robert", 15), ("William", 12), ("Thomas", 12),
    ("Gary", 12), ("Dean", 10), ("Jason", 10), ("Anthony", 12), ("Scott", 10), ("Matthew", 14), ("Jamie", 8)]
WB_WOMEN = [("Sarah", 35), ("Emma", 30), ("Lisa", 28), ("Claire", 25), ("Michelle", 22), ("Nicola", 22),
    ("Kelly", 22), ("Gemma", 20), ("Donna", 15), ("Joanne", 18), ("Rebecca", 18), ("Laura", 20),
    ("Kerry", 12), ("Stacey", 12), ("Amanda", 12), ("Louise", 14), ("Victoria", 12), ("Hayley", 12),
    ("Samantha", 14), ("Jessica", 8), ("Elizabeth", 8), ("Katherine", 6), ("Chantelle", 5), ("Leanne", 8)]

SA_SURNAMES = [("Khan", 40), ("Patel", 35), ("Ali", 30), ("Hussain", 30), ("Ahmed", 28), ("Singh", 20),
    ("Shah", 15), ("Mahmood", 12), ("Iqbal", 12), ("Akhtar", 10), ("Rahman", 12), ("Islam", 8),
    ("Mistry", 6), ("Sharma", 6), ("Chaudhry", 6), ("Bibi", 4), ("Rashid", 6), ("Malik", 8), ("Butt", 5)]
SA_BOYS = [("Mohammed", 60), ("Ayaan", 12), ("Ibrahim", 14), ("Yusuf", 14), ("Zain", 12), ("Aryan", 6),
    ("Arjun", 6), ("Hamza", 14), ("Ali", 10), ("Adam", 12), ("Bilal", 8), ("Umar", 10), ("Haris", 6),
    ("Rayyan", 8), ("Zakariya", 6), ("Abdullah", 8), ("Harjit", 2), ("Arman", 4)]
SA_GIRLS = [("Aisha", 16), ("Fatima", 16), ("Maryam", 16), ("Zara", 12), ("Amira", 8), ("Hafsa", 10),
    ("Inaya", 8), ("Priya", 6), ("Simran", 5), ("Khadija", 8), ("Zainab", 10), ("Aleena", 6), ("Safa", 5),
    ("Hania", 4), ("Mariam", 6)]
SA_MEN = [("Mohammed", 40), ("Imran", 15), ("Asif", 12), ("Tariq", 12), ("Sajid", 10), ("Shahid", 10),
    ("Naveed", 8), ("Kamran", 8), ("Zahid", 8), ("Rajesh", 5), ("Sanjay", 5), ("Amjad", 8), ("Khalid", 8)]
SA_WOMEN = [("Nasreen", 10), ("Shazia", 10), ("Samina", 8), ("Rubina", 8), ("Farzana", 8), ("Nazia", 8),
    ("Sadia", 8), ("Parveen", 6), ("Asma", 8), ("Sunita", 4)]

AR_SURNAMES = [("Hassan", 15), ("Ibrahim", 12), ("Mohamed", 15), ("Abdullah", 10), ("Osman", 10),
    ("Abdi", 10), ("Ahmed", 12), ("Al-Sayed", 5), ("Omar", 8), ("Yusuf", 8), ("Mahmoud", 6), ("Farah", 8),
    ("Warsame", 4), ("Jama", 5)]
AR_BOYS = [("Mohamed", 30), ("Omar", 12), ("Ahmed", 12), ("Youssef", 8), ("Hassan", 8), ("Abdirahman", 6),
    ("Mustafa", 8), ("Khalid", 6), ("Karim", 5), ("Ali", 6)]
AR_GIRLS = [("Fatima", 10), ("Hodan", 6), ("Amina", 10), ("Nour", 6), ("Layla", 8), ("Hana", 6),
    ("Sumaya", 6), ("Salma", 6), ("Yasmin", 8), ("Ayan", 5)]
AR_MEN = [("Mohamed", 20), ("Abdi", 10), ("Ahmed", 10), ("Hussein", 8), ("Omar", 8), ("Abdullahi", 6)]
AR_WOMEN = [("Fadumo", 6), ("Hawa", 6), ("Amina", 8), ("Halima", 8), ("Sahra", 6), ("Khadra", 5)]

# Eastern European: (masculine surname, feminine surname)
EE_SURNAMES = [(("Kowalski", "Kowalska"), 12), (("Nowak", "Nowak"), 14), (("Wiśniewski", "Wiśniewska"), 8),
    (("Wójcik", "Wójcik"), 8), (("Lewandowski", "Lewandowska"), 7), (("Zieliński", "Zielińska"), 6),
    (("Popescu", "Popescu"), 8), (("Ionescu", "Ionescu"), 6), (("Popa", "Popa"), 6),
    (("Kazlauskas", "Kazlauskienė"), 4), (("Petrov", "Petrova"), 5), (("Horváth", "Horváth"), 5),
    (("Dvořák", "Dvořáková"), 3), (("Balogh", "Balogh"), 4)]
EE_BOYS = [("Jakub", 12), ("Kacper", 10), ("Szymon", 8), ("Filip", 8), ("Andrei", 8), ("Ionuț", 4),
    ("Mateusz", 8), ("Łukasz", 5), ("Dawid", 6), ("Matei", 4), ("Lukas", 5), ("Tomasz", 4), ("Alexandru", 5)]
EE_GIRLS = [("Zuzanna", 10), ("Julia", 12), ("Maja", 10), ("Elena", 8), ("Wiktoria", 8), ("Natalia", 8),
    ("Oliwia", 6), ("Ioana", 5), ("Gabriela", 5), ("Alexandra", 6), ("Małgorzata", 2)]
EE_MEN = [("Piotr", 10), ("Krzysztof", 8), ("Marek", 8), ("Andrzej", 6), ("Ion", 6), ("Gheorghe", 4),
    ("Tomasz", 6), ("Paweł", 6), ("Mihai", 5)]
EE_WOMEN = [("Agnieszka", 8), ("Katarzyna", 8), ("Anna", 10), ("Monika", 6), ("Maria", 6), ("Elena", 5),
    ("Ewa", 5), ("Małgorzata", 4)]

WA_SURNAMES = [("Okafor", 10), ("Adeyemi", 10), ("Okonkwo", 8), ("Adebayo", 10), ("Ogunleye", 6),
    ("Mensah", 10), ("Boateng", 10), ("Owusu", 10), ("Asante", 8), ("Oluwole", 5), ("Eze", 6),
    ("Nwosu", 6), ("Bello", 6), ("Danso", 5), ("Appiah", 6)]
WA_BOYS = [("Oluwaseun", 6), ("Chidi", 6), ("Tunde", 5), ("Kwame", 6), ("Kofi", 6), ("Emmanuel", 10),
    ("Daniel", 8), ("David", 8), ("Chukwuemeka", 5), ("Oluwatobi", 5), ("Ayomide", 5), ("Samuel", 6),
    ("Joshua", 6), ("Divine", 4)]
WA_GIRLS = [("Ama", 5), ("Abena", 5), ("Chioma", 6), ("Ngozi", 4), ("Blessing", 8), ("Precious", 8),
    ("Favour", 6), ("Oluwadamilola", 4), ("Esther", 6), ("Grace", 6), ("Deborah", 5), ("Adaeze", 4)]
WA_MEN = [("Emmanuel", 8), ("Olusegun", 5), ("Chinedu", 5), ("Kwabena", 5), ("Samuel", 6), ("Femi", 5),
    ("Kofi", 5), ("Joseph", 5)]
WA_WOMEN = [("Funmilayo", 5), ("Abimbola", 5), ("Comfort", 6), ("Akosua", 5), ("Grace", 6), ("Patience", 6),
    ("Ngozi", 4)]

GROUPS = {
    "WB": (0.70, WB_SURNAMES, WB_BOYS, WB_GIRLS, WB_MEN, WB_WOMEN),
    "SA": (0.12, SA_SURNAMES, SA_BOYS, SA_GIRLS, SA_MEN, SA_WOMEN),
    "AR": (0.05, AR_SURNAMES, AR_BOYS, AR_GIRLS, AR_MEN, AR_WOMEN),
    "EE": (0.07, EE_SURNAMES, EE_BOYS, EE_GIRLS, EE_MEN, EE_WOMEN),
    "WA": (0.06, WA_SURNAMES, WA_BOYS, WA_GIRLS, WA_MEN, WA_WOMEN),
}

NICK = {"William": ["Bill", "Will", "Liam", "Billy"], "Robert": ["Bob", "Rob", "Robbie"],
    "Thomas": ["Tom", "Tommy"], "James": ["Jim", "Jamie", "Jimmy"], "Elizabeth": ["Beth", "Liz", "Lizzie"],
    "Alexander": ["Alex", "Xander"], "Alexandra": ["Alex", "Ola"], "Jessica": ["Jess", "Jessie"],
    "Katherine": ["Kate", "Katie", "Kathy"], "Samuel": ["Sam", "Sammy"], "Daniel": ["Dan", "Danny"],
    "Joseph": ["Joe", "Joey"], "Charlotte": ["Charlie", "Lottie"], "Abigail": ["Abbie", "Abi"],
    "Oliver": ["Ollie", "Olly"], "Michael": ["Mike", "Mick"], "Christopher": ["Chris", "Kit"],
    "Andrew": ["Andy", "Drew"], "Stephen": ["Steve"], "Matthew": ["Matt"], "Anthony": ["Tony", "Ant"],
    "Richard": ["Rich", "Dick"], "Rebecca": ["Becky", "Becca"], "Samantha": ["Sam", "Sammie"],
    "Nicola": ["Nicky"], "Victoria": ["Vicky", "Tori"], "Isabella": ["Bella", "Izzy"],
    "Isabel": ["Izzy"], "Joshua": ["Josh"], "Jacob": ["Jake"], "Frederick": ["Freddie", "Fred"],
    "Harry": ["Harold"], "Olivia": ["Liv", "Livvy"], "Amelia": ["Millie", "Mia"], "Emily": ["Em", "Emmy"],
    "Sophie": ["Soph"], "Megan": ["Meg"], "Oluwaseun": ["Seun"], "Chukwuemeka": ["Emeka"],
    "Oluwatobi": ["Tobi", "Tobe"], "Oluwadamilola": ["Dami", "Damilola"], "Ayomide": ["Ayo"],
    "Zakariya": ["Zak", "Zakaria"], "Ibrahim": ["Ibby"], "Mateusz": ["Matt"], "Jakub": ["Kuba", "Jacob"],
    "Alexandru": ["Alex"], "Małgorzata": ["Gosia"], "Krzysztof": ["Chris"], "Abdirahman": ["Abdi"],
    "Mohammed": ["Mo"], "Muhammad": ["Mo"], "Mohamed": ["Mo"], "Abdullah": ["Abdul"],
    "Katarzyna": ["Kasia"], "Zuzanna": ["Zuza"], "Wiktoria": ["Vicky"], "Natalia": ["Nat"]}
MOHAMMED = ["Mohammed", "Muhammad", "Mohammad", "Mohamed", "Muhammed", "Mohammod"]
import unicodedata


def ascii_fold(s):
    s = s.replace("ł", "l").replace("Ł", "L")
    return "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))

TWIN_SIMILAR = [("Ella", "Ellie", "FF"), ("Harry", "Harvey", "MM"), ("Mia", "Maya", "FF"),
    ("Alfie", "Archie", "MM"), ("Isla", "Isabel", "FF"), ("Ruby", "Rosie", "FF"), ("Leah", "Lexi", "FF"),
    ("Jack", "Jacob", "MM"), ("Amelia", "Amelie", "FF"), ("Oliver", "Olivia", "MF"), ("Lewis", "Liam", "MM"),
    ("Daniel", "David", "MM")]

AREAS = ["BD1", "BD2", "BD3", "BD4", "BD5", "BD6", "BD7", "BD8", "BD9", "BD10", "BD18", "LS6", "LS7",
         "LS8", "LS9", "LS11", "LS12", "HX1", "HX3", "WF1", "WF13", "HD1", "HD2"]


def wpick(rng, pool):
    names, weights = zip(*pool)
    return rng.choices(names, weights=weights)[0]


def postcode(rng):
    return f"{rng.choice(AREAS)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"


def rand_date(rng, lo, hi):
    return lo + dt.timedelta(days=rng.randint(0, (hi - lo).days))


# ---------------------------------------------------------------- population
class Person:
    n = 0

    def __init__(self, forename, surname, sex, dob, group, household, kind):
        Person.n += 1
        self.pid = f"T{Person.n:05d}"
        self.forename, self.sex, self.dob, self.group = forename, sex, dob, group
        self.household, self.kind = household, kind  # kind: child | adult
        self.surnames = [(D(1900, 1, 1), surname)]
        self.postcodes = []  # filled from household
        self.tags = []
        self.links = {}      # tag -> other pid
        self.mo_spelling = None

    def surname_at(self, day):
        s = self.surnames[0][1]
        for since, name in self.surnames:
            if day >= since:
                s = name
        return s

    def postcode_at(self, day):
        p = self.postcodes[0][1]
        for since, pc in self.postcodes:
            if day >= since:
                p = pc
        return p


def group_choice(rng):
    keys = list(GROUPS)
    return rng.choices(keys, weights=[GROUPS[k][0] for k in keys])[0]


def surname_for(rng, group, sex):
    s = wpick(rng, GROUPS[group][1])
    if group == "EE":
        return s  # tuple, resolved per person
    return s


def resolve_surname(s, sex):
    if isinstance(s, tuple):
        return s[0] if sex == "M" else s[1]
    return s


def first_name(rng, group, sex, adult):
    pool = GROUPS[group][4 if adult else 2] if sex == "M" else GROUPS[group][5 if adult else 3]
    return wpick(rng, pool)


def build_population(rng, households):
    people = []
    hh_members = {}
    for h in range(households):
        hid = f"H{h:04d}"
        group = group_choice(rng)
        fam = surname_for(rng, group, None)
        pc = postcode(rng)
        pcs = [(D(1900, 1, 1), pc)]
        if rng.random() < 0.25:  # household moves once
            pcs.append((rand_date(rng, D(2021, 1, 1), D(2024, 6, 1)), postcode(rng)))
        mother_dob = rand_date(rng, D(1972, 1, 1), D(1998, 12, 31))
        mother_sn = fam
        if group == "SA" and rng.random() < 0.4:
            mother_sn = "Begum" if rng.random() < 0.7 else "Bibi"
        if group == "WB" and rng.random() < 0.25:
            mother_sn = wpick(rng, WB_SURNAMES)  # unmarried / different surname
        members = []
        mum = Person(first_name(rng, group, "F", True), resolve_surname(mother_sn, "F"), "F", mother_dob,
                     group, hid, "adult")
        members.append(mum)
        dad = None
        if rng.random() < 0.6:
            dad = Person(first_name(rng, group, "M", True), resolve_surname(fam, "M"), "M",
                         mother_dob + dt.timedelta(days=rng.randint(-1500, 3000)), group, hid, "adult")
            members.append(dad)
        nkids = rng.choices([1, 2, 3, 4, 5], weights=[30, 35, 20, 10, 5])[0]
        first = mother_dob + dt.timedelta(days=rng.randint(17 * 365, 30 * 365))
        kid_dob = first if first >= D(2004, 6, 1) else rand_date(rng, D(2004, 6, 1), D(2012, 6, 1))
        used = set()
        k = 0
        while k < nkids:
            if kid_dob > D(2023, 6, 1):
                break
            sex = rng.choice("MF")
            fn = first_name(rng, group, sex, False)
            if fn in used:
                continue
            used.add(fn)
            kid = Person(fn, resolve_surname(fam, sex), sex, kid_dob, group, hid, "child")
            if group == "WB" and rng.random() < 0.05:
                kid.surnames = [(D(1900, 1, 1), f"{kid.surnames[0][1]}-{mother_sn}")]
                kid.tags.append("double_barrel")
            members.append(kid)
            k += 1
            # twins / triplets
            r = rng.random()
            if r < 0.035 or (r < 0.037 and k < nkids):
                nt = 2 if r < 0.035 else 3
                sibs = [kid]
                for t in range(nt - 1):
                    if rng.random() < 0.15 and nt == 2:
                        pair = rng.choice(TWIN_SIMILAR)
                        kid.forename, kid.sex = pair[0], pair[2][0]
                        kid.surnames = [(D(1900, 1, 1), resolve_surname(fam, kid.sex))]
                        tfn, tsex = pair[1], pair[2][1]
                        kid.tags.append("twin_similar_name")
                    else:
                        tsex = sex if rng.random() < 0.6 else ("F" if sex == "M" else "M")
                        while True:
                            tfn = first_name(rng, group, tsex, False)
                            if tfn not in used:
                                break
                    used.add(tfn)
                    tw = Person(tfn, resolve_surname(fam, tsex), tsex, kid_dob, group, hid, "child")
                    sibs.append(tw)
                    members.append(tw)
                    k += 1
                for a in sibs:
                    a.tags.append("twin" if nt == 2 else "triplet")
                    a.links["twin"] = [b.pid for b in sibs if b is not a]
            kid_dob = kid_dob + dt.timedelta(days=rng.randint(320, 5 * 365))
        # parent+child namesake (junior): a son named after his father, a daughter after her mother
        kids = [m for m in members if m.kind == "child"]
        if kids and rng.random() < 0.06:
            if dad and any(c.sex == "M" for c in kids):
                c = next(c for c in kids if c.sex == "M" and "twin" not in c.tags)  if any(c.sex == "M" and "twin" not in c.tags for c in kids) else None
                par = dad
            else:
                c = next((c for c in kids if c.sex == "F" and "twin" not in c.tags), None)
                par = mum
            if c is not None and c.surname_at(D(2024, 1, 1)) == par.surname_at(D(2024, 1, 1)):
                c.forename = par.forename
                gap = (c.dob - par.dob).days / 365.25
                if not (22 <= gap <= 32):  # keep the planted pattern: 22-32 years apart
                    c.dob = par.dob + dt.timedelta(days=int(rng.uniform(25, 30) * 365.25))
                c.tags.append("junior_child"); par.tags.append("junior_parent")
                c.links["junior"] = par.pid; par.links["junior"] = c.pid
        for m in members:
            m.postcodes = list(pcs)
            if m.kind == "child" and rng.random() < 0.05:  # placed away from home
                m.postcodes.append((rand_date(rng, D(2021, 1, 1), D(2024, 6, 1)), postcode(rng)))
                m.tags.append("placement_move")
            if m.kind == "child" and rng.random() < 0.04:  # surname change (step-family / adoption)
                new = wpick(rng, GROUPS[group][1]) if group != "EE" else mother_sn
                new = resolve_surname(new, m.sex)
                if new != m.surname_at(D(2020, 1, 1)):
                    m.surnames.append((rand_date(rng, D(2021, 1, 1), D(2024, 1, 1)), new))
                    m.tags.append("surname_change")
            if m.forename in MOHAMMED:
                m.mo_spelling = m.forename
        people.extend(members)
        hh_members[hid] = members
    # unrelated adult perpetrators
    for i in range(int(households * 0.35)):
        group = group_choice(rng)
        sex = "M" if rng.random() < 0.85 else "F"
        sn = resolve_surname(surname_for(rng, group, sex), sex)
        a = Person(first_name(rng, group, sex, True), sn, sex, rand_date(rng, D(1960, 1, 1), D(2003, 1, 1)),
                   group, f"X{i:04d}", "adult")
        a.postcodes = [(D(1900, 1, 1), postcode(rng))]
        a.tags.append("lone_adult")
        people.append(a)
    # planted namesakes: unrelated children with a common full name, in other households
    common = [("Jack", "Smith", "M", "WB"), ("Oliver", "Jones", "M", "WB"), ("Olivia", "Smith", "F", "WB"),
              ("Mohammed", "Khan", "M", "SA"), ("Muhammad", "Hussain", "M", "SA"), ("Emily", "Taylor", "F", "WB"),
              ("Amelia", "Williams", "F", "WB"), ("Harry", "Brown", "M", "WB"), ("Mohammed", "Ali", "M", "SA"),
              ("Aisha", "Ahmed", "F", "SA"), ("Jakub", "Nowak", "M", "EE"), ("Emmanuel", "Mensah", "M", "WA"),
              ("Mohamed", "Hassan", "M", "AR"), ("Lily", "Davies", "F", "WB"), ("Thomas", "Wilson", "M", "WB"),
              ("Fatima", "Begum", "F", "SA"), ("Charlie", "Evans", "M", "WB"), ("Grace", "Jones", "F", "WB")]
    g = 0
    for fn, sn, sex, group in common:
        for rep in range(2):
            g += 1
            base = rand_date(rng, D(2005, 1, 1), D(2020, 12, 31))
            size = rng.choice([2, 2, 3])
            # DOB spread: mostly years apart, some within 6-18 months, a few within 3 months
            mode = rng.choices(["years", "months", "close"], weights=[60, 25, 15])[0]
            for j in range(size):
                if j == 0:
                    dob = base
                elif mode == "years":
                    dob = base + dt.timedelta(days=rng.choice([-1, 1]) * rng.randint(3 * 365, 9 * 365))
                elif mode == "months":
                    dob = base + dt.timedelta(days=rng.choice([-1, 1]) * rng.randint(200, 540))
                else:
                    dob = base + dt.timedelta(days=rng.choice([-1, 1]) * rng.randint(5, 90))
                dob = min(max(dob, D(2004, 6, 1)), D(2022, 6, 1))
                p = Person(fn, sn, sex, dob, group, f"N{g:03d}{j}", "child")
                p.postcodes = [(D(1900, 1, 1), postcode(rng))]
                p.tags.append(f"namesake_{mode}")
                p.links["namesake_group"] = f"NS{g:03d}"
                if fn in MOHAMMED:
                    p.mo_spelling = fn
                people.append(p)
    return people


# ---------------------------------------------------------------- agencies
AGENCIES = {
    "CSC": dict(type="children_services", cols=["case_id", "person_id", "role", "category", "referral_date",
                "forename", "surname", "previous_surname", "dob", "gender", "postcode"],
                fmt="%d/%m/%Y", dup=0.15, typo=0.05, nick=0.04, swap=0.01, dm=0.02, dobmiss=0.02,
                dobtypo=0.01, pcmiss=0.08, sexmiss=0.01, upper=0.0, ascii=0.3, mo_keep=0.7, pc_fmt=0.1),
    "POL": dict(type="police", cols=["crime_ref", "nominal_id", "involvement", "flag", "date_reported",
                "forenames", "surname", "birth_date", "sex", "post_code"],
                fmt="%Y-%m-%d", dup=0.2, typo=0.07, nick=0.06, swap=0.03, dm=0.03, dobmiss=0.05,
                dobtypo=0.02, pcmiss=0.15, sexmiss=0.03, upper=0.5, ascii=0.9, mo_keep=0.5, pc_fmt=0.4),
    "YOT": dict(type="yot", cols=["yot_ref", "yp_id", "role", "concern", "start_date", "first_name",
                "last_name", "dob", "gender", "postcode"],
                fmt="%d %b %Y", dup=0.1, typo=0.05, nick=0.10, swap=0.01, dm=0.01, dobmiss=0.01,
                dobtypo=0.01, pcmiss=0.05, sexmiss=0.0, upper=0.0, ascii=0.6, mo_keep=0.6, pc_fmt=0.2),
    "VOL": dict(type="voluntary", cols=["referral_id", "client_id", "role", "concern_type", "referral_date",
                "first_name", "surname", "dob", "sex", "postcode"],
                fmt="%d/%m/%Y", dup=0.6, typo=0.10, nick=0.15, swap=0.02, dm=0.04, dobmiss=0.20,
                dobtypo=0.03, pcmiss=0.30, sexmiss=0.2, upper=0.0, ascii=0.5, mo_keep=0.4, pc_fmt=0.5),
}
ROLE_LABELS = {
    "CSC": {"known_victim": "Victim", "suspected_victim": "Suspected victim", "perpetrator": "Alleged perpetrator", "hsb": "HSB"},
    "POL": {"known_victim": "VICTIM", "suspected_victim": "VICTIM (SUSPECTED)", "perpetrator": "SUSPECT", "hsb": "SUSPECT (U18 HSB)"},
    "YOT": {"known_victim": "Victim", "suspected_victim": "Possible victim", "perpetrator": "Offender", "hsb": "HSB"},
    "VOL": {"known_victim": "Survivor", "suspected_victim": "At risk", "perpetrator": "Abuser", "hsb": "HSB"},
}
CASE_LABELS = {"CSC": {"CSA": "Sexual abuse", "CSE": "Exploitation", "HSB": "Harmful sexual behaviour"},
               "POL": {"CSA": "CSA FLAG", "CSE": "CSE FLAG", "HSB": "HSB FLAG"},
               "YOT": {"CSA": "CSA", "CSE": "CSE", "HSB": "HSB"},
               "VOL": {"CSA": "CSA", "CSE": "CSE", "HSB": "HSB"}}


def typo(rng, s):
    if len(s) < 3:
        return s
    i = rng.randint(1, len(s) - 2)
    op = rng.choice(["sub", "del", "ins", "trans"])
    letters = string.ascii_lowercase
    if op == "sub":
        return s[:i] + rng.choice(letters) + s[i + 1:]
    if op == "del":
        return s[:i] + s[i + 1:]
    if op == "ins":
        return s[:i] + rng.choice(letters) + s[i:]
    return s[:i] + s[i + 1] + s[i] + s[i + 2:]


def record_identity(rng, p, ag, day, cfg, noise_log):
    fn = p.forename
    sn = p.surname_at(day)
    if p.mo_spelling:
        fn = p.mo_spelling if rng.random() < cfg["mo_keep"] else rng.choice(MOHAMMED)
        if fn != p.mo_spelling:
            noise_log.append("mohammed_variant")
    if fn in NICK and rng.random() < cfg["nick"]:
        fn = rng.choice(NICK[fn]); noise_log.append("nickname")
    if "double_barrel" in p.tags and "-" in sn and rng.random() < 0.4:
        sn = sn.split("-")[rng.randint(0, 1)]; noise_log.append("double_barrel_part")
    if rng.random() < cfg["typo"]:
        if rng.random() < 0.5:
            fn = typo(rng, fn)
        else:
            sn = typo(rng, sn)
        noise_log.append("typo")
    if rng.random() < cfg["ascii"]:
        fn2, sn2 = ascii_fold(fn), ascii_fold(sn)
        if (fn2, sn2) != (fn, sn):
            noise_log.append("ascii_fold")
        fn, sn = fn2, sn2
    if rng.random() < cfg["swap"]:
        fn, sn = sn, fn; noise_log.append("name_swap")
    if rng.random() < cfg["upper"]:
        sn = sn.upper()
    dob = p.dob
    dob_s = None
    if rng.random() < cfg["dobmiss"]:
        dob = None; noise_log.append("dob_missing")
    else:
        r = rng.random()
        if r < cfg["dm"] and dob.day <= 12 and dob.day != dob.month:
            dob = D(dob.year, dob.day, dob.month); noise_log.append("dob_dm_swap")
        elif r < cfg["dm"] + cfg["dobtypo"]:
            kind = rng.choice(["day", "day", "year", "jan1"])
            if kind == "day":
                dob = dob + dt.timedelta(days=rng.choice([-1, 1, 10, -10])); noise_log.append("dob_day_off")
            elif kind == "year":
                try:
                    dob = dob.replace(year=dob.year + rng.choice([-1, 1]))
                except ValueError:
                    dob = dob.replace(year=dob.year + 1, day=28)
                noise_log.append("dob_year_off")
            else:
                dob = D(dob.year, 1, 1); noise_log.append("dob_jan1")
        if rng.random() < 0.003:  # decade slip, e.g. 2011 -> 2001
            try:
                dob = dob.replace(year=dob.year - 10 if dob.year >= 2010 else dob.year + 10)
                noise_log.append("dob_decade_slip")
            except ValueError:
                pass
        dob_s = dob.strftime(cfg["fmt"])
    pc = p.postcode_at(day)
    if rng.random() < cfg["pcmiss"]:
        pc = ""; noise_log.append("pc_missing")
    elif rng.random() < cfg["pc_fmt"]:
        pc = pc.replace(" ", "").lower() if rng.random() < 0.5 else pc.replace(" ", "")
    if len(p.postcodes) > 1 and day >= p.postcodes[1][0]:
        noise_log.append("moved")
    sex = p.sex if rng.random() >= cfg["sexmiss"] else ""
    prev = ""
    if ag == "CSC" and len(p.surnames) > 1 and day >= p.surnames[1][0] and rng.random() < 0.6:
        prev = p.surnames[0][1]
    if len(p.surnames) > 1 and day >= p.surnames[1][0]:
        noise_log.append("after_surname_change")
    return fn, sn, prev, dob_s or "", sex, pc


def event_day(rng, p):
    lo, hi = D(2020, 1, 1), D(2024, 12, 31)
    if p.kind == "child":
        lo = max(lo, p.dob + dt.timedelta(days=30))
        hi = min(hi, D(p.dob.year + 17, p.dob.month, 28))
    if lo > hi:
        return None
    return rand_date(rng, lo, hi)


def build_extracts(rng, people):
    byid = {p.pid: p for p in people}
    hh = {}
    for p in people:
        hh.setdefault(p.household, []).append(p)
    rows = {a: [] for a in AGENCIES}
    localids = {}  # (agency, pid) -> [ids]
    counter = {a: 0 for a in AGENCIES}
    case_counter = {a: 0 for a in AGENCIES}

    def local_id(ag, p, first):
        key = (ag, p.pid)
        ids = localids.setdefault(key, [])
        if not ids or rng.random() < AGENCIES[ag]["dup"]:
            counter[ag] += 1
            ids.append(f"{ag[0]}{counter[ag]:06d}")
            return ids[-1]
        return rng.choice(ids)

    def add_row(ag, case_id, p, role, ctype, day):
        cfg = AGENCIES[ag]
        noise = []
        fn, sn, prev, dob, sex, pc = record_identity(rng, p, ag, day, cfg, noise)
        vals = [case_id, local_id(ag, p, False), ROLE_LABELS[ag][role], CASE_LABELS[ag][ctype],
                day.strftime(cfg["fmt"]), fn, sn]
        if ag == "CSC":
            vals.append(prev)
        vals += [dob, sex, pc]
        row = dict(zip(cfg["cols"], vals))
        row["true_id"] = p.pid
        row["_noise"] = ";".join(noise)
        rows[ag].append(row)

    def new_case(ag):
        case_counter[ag] += 1
        return f"{ag}-{case_counter[ag]:06d}"

    for p in people:
        child = p.kind == "child"
        if child:
            age_now = (D(2024, 12, 31) - p.dob).days / 365.25
            memb = {"CSC": 0.55, "POL": 0.40, "YOT": 0.18 if age_now >= 11 else 0.0, "VOL": 0.25}
        else:
            memb = {"CSC": 0.10, "POL": 0.30, "YOT": 0.0, "VOL": 0.03}
            if "lone_adult" in p.tags:
                memb = {"CSC": 0.15, "POL": 0.85, "YOT": 0.0, "VOL": 0.05}
            if "junior_parent" in p.tags:
                memb = {"CSC": 0.6, "POL": 0.8, "YOT": 0.0, "VOL": 0.1}
        if "namesake" in " ".join(p.tags) or "twin" in " ".join(p.tags) or "junior_child" in p.tags:
            for a in memb:
                if memb[a]:
                    memb[a] = min(0.8, memb[a] * 1.4)
        for ag, prob in memb.items():
            if rng.random() >= prob:
                continue
            n = 1
            while n < 5 and rng.random() < 0.4:
                n += 1
            for _ in range(n):
                day = event_day(rng, p)
                if day is None:
                    break
                if child:
                    if ag == "YOT":
                        role = rng.choice(["hsb", "hsb", "perpetrator", "known_victim"])
                    else:
                        role = rng.choices(["known_victim", "suspected_victim", "hsb"], weights=[60, 30, 10])[0]
                else:
                    role = "perpetrator"
                ctype = "HSB" if role == "hsb" else rng.choice(["CSA", "CSA", "CSE"])
                if not child and ctype == "HSB":
                    ctype = "CSA"
                case = new_case(ag)
                add_row(ag, case, p, role, ctype, day)
                # co-involvements in the same case
                if child and ag in ("CSC", "POL", "VOL"):
                    if "twin" in p.links and rng.random() < 0.5:
                        for t in p.links["twin"]:
                            tw = byid[t]
                            add_row(ag, case, tw, role if role != "hsb" else "known_victim", ctype, day)
                    elif rng.random() < 0.15:
                        sibs = [s for s in hh.get(p.household, []) if s is not p and s.kind == "child"
                                and s.dob < day - dt.timedelta(days=30) and (day - s.dob).days < 17 * 365]
                        if sibs:
                            add_row(ag, case, rng.choice(sibs), "suspected_victim", ctype, day)
                    if ctype in ("CSA",) and rng.random() < 0.12:
                        adults = [s for s in hh.get(p.household, []) if s.kind == "adult"]
                        if adults and role != "hsb":
                            add_row(ag, case, rng.choice(adults), "perpetrator", ctype, day)
    return rows


def mapping(ag):
    cfg = AGENCIES[ag]
    c = cfg["cols"]
    lines = ["[agency]", f'code = "{ag}"', f'type = "{cfg["type"]}"', "", "[columns]",
             f'record_ref = "{c[0]}"', f'person_ref = "{c[1]}"', f'role = "{c[2]}"', f'case_type = "{c[3]}"',
             f'event_date = "{c[4]}"', f'date_format = "{cfg["fmt"]}"', "", "[identity]",
             f'forename = "{c[5]}"', f'surname = "{c[6]}"']
    off = 7
    if ag == "CSC":
        lines.append(f'alternative_surnames = ["{c[7]}"]')
        off = 8
    lines += [f'date_of_birth = "{c[off]}"', f'sex = "{c[off + 1]}"', f'postcode = "{c[off + 2]}"', "",
              "[roles]"]
    lines += [f'"{lab}" = "{code}"' for code, lab in ROLE_LABELS[ag].items()]
    lines += ["", "[case_types]"]
    lines += [f'"{lab}" = "{code}"' for code, lab in CASE_LABELS[ag].items()]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--households", type=int, default=1000)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    people = build_population(rng, a.households)
    rows = build_extracts(rng, people)
    a.out.mkdir(parents=True, exist_ok=True)
    seen = set()
    noise_rows = []
    for ag, rs in rows.items():
        rng.shuffle(rs)
        cols = AGENCIES[ag]["cols"] + ["true_id"]
        with open(a.out / f"{ag}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(rs)
        for r in rs:
            seen.add(r["true_id"])
            noise_rows.append({"agency": ag, "record_ref": r[cols[0]], "person_ref": r[cols[1]],
                               "true_id": r["true_id"], "noise": r["_noise"]})
        (a.out / f"{ag}.mapping.toml").write_text(mapping(ag), encoding="utf-8")
    with open(a.out / "noise.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["agency", "record_ref", "person_ref", "true_id", "noise"])
        w.writeheader(); w.writerows(noise_rows)
    with open(a.out / "people.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["true_id", "forename", "surnames", "sex", "dob", "group", "household", "kind",
                    "postcodes", "tags", "links", "in_extract"])
        for p in people:
            w.writerow([p.pid, p.forename, "|".join(s for _, s in p.surnames), p.sex, p.dob.isoformat(),
                        p.group, p.household, p.kind, "|".join(pc for _, pc in p.postcodes),
                        ";".join(p.tags), json.dumps(p.links), int(p.pid in seen)])
    manifest = {"agencies": [{"code": ag, "csv": str((a.out / f"{ag}.csv").resolve()),
                              "mapping": str((a.out / f"{ag}.mapping.toml").resolve()), "rows": len(rows[ag])}
                             for ag in AGENCIES],
                "people_in_extract": len(seen), "rows": sum(len(r) for r in rows.values())}
    (a.out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    print(json.dumps({k: manifest[k] for k in ("people_in_extract", "rows")}),
          {ag: len(r) for ag, r in rows.items()})


if __name__ == "__main__":
    main()
