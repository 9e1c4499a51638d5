//! Common given-name short forms and their canonical forms: English
//! diminutives, and the short forms under which Yoruba and Igbo names are
//! commonly recorded (the name's last part, "Seun" for "Oluwaseun").

use std::collections::HashMap;
use std::sync::OnceLock;

/// (diminutive, canonical) pairs, folded to lower case.
pub const NICKNAMES: &[(&str, &str)] = &[
    ("abby", "abigail"), ("abbie", "abigail"), ("alex", "alexander"), ("alf", "alfred"),
    ("alfie", "alfred"), ("andy", "andrew"), ("drew", "andrew"), ("annie", "ann"), ("anne", "ann"),
    ("archie", "archibald"), ("bart", "bartholomew"), ("becky", "rebecca"), ("becca", "rebecca"),
    ("ben", "benjamin"), ("benji", "benjamin"), ("bert", "albert"), ("bill", "william"),
    ("billy", "william"), ("will", "william"), ("willie", "william"), ("liam", "william"),
    ("bob", "robert"), ("bobby", "robert"), ("rob", "robert"), ("robbie", "robert"),
    ("cathy", "catherine"), ("kate", "catherine"), ("katie", "catherine"),
    ("kathryn", "catherine"), ("katherine", "catherine"), ("kath", "catherine"),
    ("charlie", "charles"), ("chas", "charles"), ("chris", "christopher"), ("kit", "christopher"),
    ("chrissie", "christine"), ("dan", "daniel"), ("danny", "daniel"), ("dave", "david"),
    ("davey", "david"), ("debbie", "deborah"), ("deb", "deborah"), ("di", "diana"),
    ("dot", "dorothy"), ("dotty", "dorothy"), ("ed", "edward"), ("eddie", "edward"),
    ("ted", "edward"), ("ellie", "eleanor"), ("nell", "eleanor"), ("liz", "elizabeth"),
    ("lizzie", "elizabeth"), ("beth", "elizabeth"), ("betty", "elizabeth"), ("eliza", "elizabeth"),
    ("libby", "elizabeth"), ("em", "emily"), ("emmy", "emily"), ("fred", "frederick"),
    ("freddie", "frederick"), ("freddy", "frederick"), ("frank", "francis"), ("fran", "frances"),
    ("gabby", "gabrielle"), ("gaz", "gary"), ("geoff", "geoffrey"), ("gerry", "gerald"),
    ("greg", "gregory"), ("harry", "henry"), ("hal", "henry"), ("hank", "henry"),
    ("izzy", "isabel"), ("issy", "isabel"), ("isabelle", "isabel"), ("isabella", "isabel"),
    ("jack", "john"), ("johnny", "john"), ("jon", "jonathan"), ("jonny", "jonathan"),
    ("jake", "jacob"), ("jamie", "james"), ("jim", "james"), ("jimmy", "james"),
    ("jen", "jennifer"), ("jenny", "jennifer"), ("jess", "jessica"), ("jessie", "jessica"),
    ("jo", "joanne"), ("joe", "joseph"), ("joey", "joseph"), ("josh", "joshua"),
    ("kim", "kimberley"), ("larry", "lawrence"), ("laurie", "lawrence"), ("len", "leonard"),
    ("lenny", "leonard"), ("leo", "leonard"), ("lou", "louis"), ("lucy", "lucinda"),
    ("maggie", "margaret"), ("meg", "margaret"), ("peggy", "margaret"), ("marge", "margaret"),
    ("matt", "matthew"), ("matty", "matthew"), ("mick", "michael"), ("mike", "michael"),
    ("mikey", "michael"), ("molly", "mary"), ("polly", "mary"), ("nat", "nathan"),
    ("nate", "nathan"), ("nick", "nicholas"), ("nicky", "nicholas"), ("olly", "oliver"),
    ("ollie", "oliver"), ("pat", "patrick"), ("paddy", "patrick"), ("pete", "peter"),
    ("phil", "philip"), ("phillip", "philip"), ("ray", "raymond"), ("reg", "reginald"),
    ("rick", "richard"), ("ricky", "richard"), ("rich", "richard"), ("dick", "richard"),
    ("ron", "ronald"), ("ronnie", "ronald"), ("rosie", "rose"), ("sam", "samuel"),
    ("sammy", "samuel"), ("sandy", "alexandra"), ("sasha", "alexandra"), ("sue", "susan"),
    ("susie", "susan"), ("steve", "stephen"), ("stevie", "stephen"), ("steven", "stephen"),
    ("stu", "stuart"), ("terry", "terence"), ("tim", "timothy"),
    ("timmy", "timothy"), ("tom", "thomas"), ("tommy", "thomas"), ("toni", "antonia"),
    ("tony", "anthony"), ("val", "valerie"), ("vicky", "victoria"), ("tori", "victoria"),
    ("zach", "zachary"), ("zack", "zachary"),
    // Yoruba and Igbo names, where the short form is one part of the name.
    ("seun", "oluwaseun"), ("seyi", "oluwaseyi"), ("tobi", "oluwatobi"), ("femi", "olufemi"),
    ("oluwafemi", "olufemi"), ("mide", "olumide"), ("tope", "temitope"), ("jide", "babajide"),
    ("tunde", "babatunde"), ("bayo", "adebayo"), ("funmi", "olufunmilayo"),
    ("funmilayo", "olufunmilayo"), ("kemi", "oluwakemi"), ("wale", "adewale"),
    ("toyin", "oluwatoyin"), ("tosin", "oluwatosin"), ("segun", "olusegun"), ("bunmi", "olubunmi"),
    ("tokunbo", "adetokunbo"), ("yemi", "adeyemi"), ("ayo", "ayodele"), ("bimbo", "abimbola"),
    ("emeka", "chukwuemeka"), ("amaka", "chiamaka"), ("uche", "uchenna"), ("ike", "ikechukwu"),
    ("nkechi", "nkechinyere"), ("nonso", "chinonso"),
];

/// The canonical form of a folded given name: its full name when it is a
/// known diminutive, else itself.
pub fn canonical_forename(folded: &str) -> &str {
    static TABLE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    let table = TABLE.get_or_init(|| NICKNAMES.iter().copied().collect());
    table.get(folded).copied().unwrap_or(folded)
}
