//! Name and place pools for the synthetic population.

pub const GIRLS: &[&str] = &[
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia",
    "Grace", "Freya", "Willow", "Florence", "Emily", "Ella", "Poppy", "Evie", "Elsie", "Charlotte",
    "Evelyn", "Sienna", "Daisy", "Phoebe", "Sophie", "Harper", "Alice", "Matilda", "Ruby", "Chloé",
    "Zoë", "Aisha", "Fatima", "Maryam", "Hannah", "Jessica", "Rebecca", "Elizabeth", "Catherine",
    "Abigail", "Victoria", "Margaret", "Jennifer", "Deborah", "Susan", "Eleanor", "Amira", "Nadia",
    "Layla", "Maja", "Zuzanna", "Niamh", "Siobhan", "Keira", "Leah", "Megan", "Caitlin", "Jade",
    "Kayleigh", "Shannon",
];

pub const BOYS: &[&str] = &[
    "Oliver", "George", "Noah", "Arthur", "Muhammad", "Leo", "Harry", "Oscar", "Archibald", "Henry",
    "Theodore", "Freddie", "Jacob", "Charles", "Thomas", "William", "James", "Joshua", "Alfred",
    "Samuel", "Edward", "Daniel", "Alexander", "Benjamin", "Joseph", "Michael", "Robert", "Matthew",
    "Nicholas", "Christopher", "Anthony", "Richard", "Stephen", "Timothy", "Patrick", "Jonathan",
    "David", "Ryan", "Kai", "Reggie", "Tyler", "Kyle", "Callum", "Liam", "Connor", "Declan",
    "Omar", "Yusuf", "Ibrahim", "Hamza", "Bilal", "Kacper", "Jakub", "Mateusz", "José", "Luca",
    "Jayden", "Brandon", "Dylan", "Ethan",
];

pub const SURNAMES: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Thomas", "Clarke", "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin", "Cooper",
    "Hill", "Ward", "Hughes", "Moore", "Clark", "King", "Harrison", "Lewis", "Baker", "Lee",
    "Allen", "Morris", "Khan", "Scott", "Watson", "Davis", "Parker", "James", "Bennett", "Young",
    "Phillips", "Richardson", "Mitchell", "Bailey", "Carter", "Cook", "Singh", "Shaw", "Bell",
    "Collins", "Morgan", "Kelly", "Begum", "Miller", "Cox", "Hussain", "Marshall", "Simpson",
    "Price", "Anderson", "Adams", "Wilkinson", "Ali", "Ahmed", "Foster", "Ellis", "Murphy",
    "Chapman", "Mason", "Gray", "Richards", "Webb", "Griffiths", "Hunt", "Palmer", "Campbell",
    "Holmes", "Mills", "Rogers", "Barnes", "Knight", "Matthews", "Barker", "Powell", "Stevens",
    "Kaur", "Fisher", "Butler", "Dixon", "Russell", "Harvey", "Pearson", "Graham", "O'Brien",
    "O'Connor", "McDonald", "Nowak", "Kowalski", "Wiśniewski", "Okafor", "Mensah", "Osei",
    "Nguyen", "Da Silva", "Van Der Berg", "Ødegård", "Murray", "Doyle", "Quinn", "Byrne",
    "Gallagher", "Reid", "Stewart", "Fraser",
];

pub const DISTRICTS: &[&str] = &[
    "LS6", "LS9", "LS11", "BD3", "BD8", "HX1", "HD1", "WF1", "S2", "S11", "M14", "M8", "OL1",
    "BL1", "WN1", "L8", "L4", "NE4", "SR1", "HU3",
];

/// Letters used in the inward code's unit part.
pub const UNIT_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
