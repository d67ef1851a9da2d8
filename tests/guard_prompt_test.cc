// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The prompt screen. Rules and spans are tested on stand-in lists of benign
// words (a "pineapple" stands in for a sexual term, a "robot" for a minor),
// as benign images stand in for list entries elsewhere. The real lists are
// tested through the evaluation sets (tests/guard_eval.h): prompts built in
// memory and reported by template line, never printed.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "guard_eval.h"
#include "safeguard/guard/normalize.h"
#include "safeguard/guard/prompt_guard.h"
#include "src/guard/term_lists.h"

namespace safeguard::guard {
namespace {

namespace fs = std::filesystem;
using testing::AdversarialPrompt;
using testing::BenignPrompt;

const std::string kData = SAFEGUARD_GUARD_DATA_DIR;

const Normalizer& Norm() {
  static std::unique_ptr<Normalizer> n = [] {
    std::unique_ptr<Normalizer> out;
    EXPECT_TRUE(Normalizer::Create(&out).ok());
    return out;
  }();
  return *n;
}

std::string Plain(const std::string& s) {
  NormalizedText t;
  Norm().Plain(s, &t);
  return t.text;
}

std::string Folded(const std::string& s) {
  NormalizedText t;
  Norm().Folded(s, &t);
  return t.text;
}

const PromptGuard& RealGuard() {
  static std::unique_ptr<PromptGuard> g = [] {
    std::unique_ptr<PromptGuard> out;
    Status s = PromptGuard::Load(kData, GuardPolicy{}, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }();
  return *g;
}

// ---- normalisation ---------------------------------------------------------

TEST(GuardNormalizeTest, PlainFoldsWidthCaseAndInvisibleCharacters) {
  EXPECT_EQ(Plain("\xEF\xBC\xB5\xEF\xBD\x8E\xE2\x80\x8B"
                  "dress ME"),
            " undress me ");  // fullwidth, ZWSP
  EXPECT_EQ(Plain("A  red\tfox,in the-snow!"), " a red fox in the snow! ");
  EXPECT_EQ(Plain("12-year-old"), " 12 year old ");
  EXPECT_EQ(Plain("Stra\xC3\x9F"
                  "e"),
            " strasse ");  // ß case-folds to ss
  EXPECT_EQ(Plain(""), " ");
  EXPECT_EQ(Plain("..."), " ");
}

TEST(GuardNormalizeTest, FoldedUndoesEvasions) {
  EXPECT_EQ(Folded("u n d r e s s"), " undres ");
  EXPECT_EQ(Folded("u.n.d.r.e.s.s"), " undres ");
  EXPECT_EQ(Folded("\xD1\x95\xD0\xB5\xD1\x85"), " sex ");  // Cyrillic dze, ie, ha
  EXPECT_EQ(Folded("n4k3d"), " naked ");
  EXPECT_EQ(Folded("nuuuude"), " nude ");
  EXPECT_EQ(Folded("N\xC3\x9C"
                   "DE"),
            " nude ");  // Ü
  EXPECT_EQ(Folded("nu\xCC\x81"
                   "de"),
            " nude ");  // u + combining acute
  EXPECT_EQ(Folded("$3x"), " sex ");
  EXPECT_EQ(Folded("girl g1rl gir|"), " giri giri giri ");  // l, 1 and | all fold to i
  // Digits fold too (ages are matched in the plain view).
  EXPECT_EQ(Folded("12 year old"), " i2 year oid ");
  EXPECT_EQ(Folded("535"), " ses ");
  // The same folding applies to list literals.
  EXPECT_EQ(Norm().FoldLiteral("Undress"), "undres");
  EXPECT_EQ(Norm().FoldLiteral("girl"), "giri");
}

TEST(GuardNormalizeTest, OffsetsPointIntoThePromptAsTyped) {
  const std::string prompt =
      "a \xEF\xBC\xAE\xEF\xBD\x95\xE2\x80\x8B"
      "de cat";  // "a Ｎｕ<ZWSP>de cat"
  NormalizedText t;
  Norm().Folded(prompt, &t);
  ASSERT_EQ(t.text, " a nude cat ");
  const size_t at = t.text.find("nude");
  EXPECT_EQ(t.origin_begin[at], 2u);
  EXPECT_EQ(t.origin_end[at + 3], 13u);  // the 'e' is prompt byte 12
  EXPECT_EQ(prompt.substr(13), " cat");
}

TEST(GuardNormalizeTest, InvalidUtf8IsASeparatorNotACrash) {
  EXPECT_EQ(Plain(std::string("ab\xFF\xC3"
                              "cd",
                              6)),
            " ab cd ");
  EXPECT_EQ(Plain(std::string("\xE2\x80", 2)), " ");
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(static_cast<size_t>(rng() % 40), '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    NormalizedText a;
    Norm().Folded(junk, &a);
    ASSERT_EQ(a.text.size(), a.origin_begin.size());
    ASSERT_EQ(a.text.front(), ' ');
    ASSERT_EQ(a.text.back(), ' ');
    for (size_t k = 0; k < a.text.size(); ++k) ASSERT_LE(a.origin_end[k], junk.size());
  }
}

// ---- patterns and data files ------------------------------------------------

TEST(GuardListsTest, PatternsCompileOrSayWhatIsWrong) {
  ListPattern p;
  ASSERT_TRUE(CompilePattern("undress*", Norm(), "t:1", &p).ok());
  EXPECT_EQ(p.regex, "undres[^ ]*");
  EXPECT_EQ(p.view, View::kFolded);
  ASSERT_TRUE(CompilePattern("take * (clothes|dress) off", Norm(), "t:1", &p).ok());
  EXPECT_EQ(p.regex, "take [^ ]+ (?:ciothes|dres) of");     // l folds to i
  EXPECT_EQ(p.run_regex, "take[^ ]+(?:ciothes|dress)off");  // runs keep repeats
  EXPECT_EQ(p.words, 4);
  ASSERT_TRUE(CompilePattern("1[0-7] year old", Norm(), "t:1", &p).ok());
  EXPECT_EQ(p.view, View::kPlain);
  EXPECT_EQ(p.regex, "1[0-7] year old");

  for (const char* bad : {"", "a-b", "foo.", "(a b)", "(a", "a)", "[A-Z]", "a  b", " a", "(|a)", "a]"}) {
    Status s = CompilePattern(bad, Norm(), "terms/x.txt:9", &p);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("terms/x.txt:9"), std::string::npos) << s.message();
  }
}

// A throwaway data folder of stand-in lists.
class StandIn {
 public:
  StandIn() {
    dir_ = fs::temp_directory_path() /
           ("sg-guard-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(dir_ / "terms");
    Write("VERSION", "standin-1\n");
    Write("terms/sexual.txt", "en pineapple*\n");
    Write("terms/undress.txt", "en unwrap*\n");
    Write("terms/minor.txt", "en robot\nen 1[0-7] years\n");
    Write("terms/suggestive.txt", "en feather*\n");
    Write("terms/real_person.txt", "en my neighbour\n");
    Write("terms/photo_edit.txt", "en this postcard\n");
    Write("benign.txt", "en pineapple (juice|cake)\n");
    std::ifstream rules(kData + "/rules.txt");
    std::stringstream all;
    all << rules.rdbuf();
    Write("rules.txt", all.str());
  }
  ~StandIn() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  std::string dir() const { return dir_.string(); }
  std::unique_ptr<PromptGuard> Load(GuardPolicy policy = {}) {
    std::unique_ptr<PromptGuard> g;
    Status s = PromptGuard::Load(dir(), policy, &g);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return g;
  }

 private:
  static inline int counter_ = 0;
  fs::path dir_;
};

TEST(GuardListsTest, BadDataFilesAreRefusedWithFileAndLine) {
  {
    std::unique_ptr<PromptGuard> g;
    EXPECT_EQ(PromptGuard::Load("/nonexistent/guard", {}, &g).code(), StatusCode::kNotFound);
  }
  struct Case {
    const char* file;
    const char* text;
    const char* expect;
  } cases[] = {
      {"rules.txt", "x block nosuch\n", "rules.txt:1: unknown category \"nosuch\""},
      {"rules.txt", "x maybe sexual\n", "rules.txt:1: decision \"maybe\""},
      {"rules.txt", "x policy:other sexual\n", "unknown policy"},
      {"rules.txt", "x block sexual\nx block minor\n", "rules.txt:2: rule \"x\" twice"},
      {"rules.txt", "x block\n", "rules.txt:1: expected"},
      {"terms/minor.txt", "en robot\nxx robot\n", "terms/minor.txt:2: unknown language \"xx\""},
      {"terms/minor.txt", "robot\n", "terms/minor.txt:1: expected \"LANG PATTERN\""},
      {"terms/minor.txt", "en ro.bot\n", "terms/minor.txt:1: pattern"},
      {"VERSION", "\n", "VERSION: empty"},
  };
  for (const Case& c : cases) {
    StandIn standin;
    standin.Write(c.file, c.text);
    std::unique_ptr<PromptGuard> g;
    Status s = PromptGuard::Load(standin.dir(), {}, &g);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.file << ": " << c.text;
    EXPECT_NE(s.message().find(c.expect), std::string::npos) << s.message();
  }
}

// ---- rules, on stand-in words ---------------------------------------------------

TEST(GuardRulesTest, DecisionsFollowTheRules) {
  StandIn standin;
  auto g = standin.Load();
  struct Case {
    const char* prompt;
    PromptContext ctx;
    Decision decision;
    const char* first_rule;
  } cases[] = {
      {"a red fox in the snow", {}, Decision::kAllow, ""},
      {"a robot on the beach", {}, Decision::kAllow, ""},
      {"a pineapple", {}, Decision::kBlock, "sexual_content"},
      {"a robot pineapple", {}, Decision::kBlockReport, "minor_sexual"},
      {"a 13 years r0b0t, unwrapped", {}, Decision::kBlockReport, "minor_undress"},
      {"a robot with feathers", {}, Decision::kBlockReview, "minor_suggestive"},
      {"feathers", {}, Decision::kAllow, ""},
      {"unwrap my neighbour", {}, Decision::kBlock, "person_undress"},
      {"feathers on this postcard", {}, Decision::kBlock, "edit_suggestive"},
      {"add feathers", {true, false, {}}, Decision::kBlock, "edit_suggestive"},
      {"add feathers", {true, true, {}}, Decision::kBlock, "face_suggestive"},
      {"make it blue", {true, true, {}}, Decision::kAllow, ""},
      // A word split in two, or with a starred-out vowel, is still found;
      // a split word is matched whole ("un wrapping" is not "unwrap").
      {"a robot pine apple", {}, Decision::kBlockReport, "minor_sexual"},
      {"a r*bot p*neapple", {}, Decision::kBlockReport, "minor_sexual"},
      {"un wrap it", {}, Decision::kBlock, "undress"},
      {"un wrapping paper", {}, Decision::kAllow, ""},
      // Benign senses set the term aside, and only there.
      {"pineapple juice for a robot", {}, Decision::kAllow, ""},
      {"pineapple juice and a pineapple robot", {}, Decision::kBlockReport, "minor_sexual"},
  };
  for (const Case& c : cases) {
    PromptVerdict v = g->Screen(c.prompt, c.ctx);
    EXPECT_EQ(v.decision, c.decision) << c.prompt << " " << VerdictToJson(v);
    if (*c.first_rule != '\0') {
      ASSERT_FALSE(v.rules.empty()) << c.prompt;
      EXPECT_EQ(v.rules[0].rule, c.first_rule) << c.prompt << " " << VerdictToJson(v);
    } else {
      EXPECT_TRUE(v.rules.empty()) << c.prompt << " " << VerdictToJson(v);
    }
    EXPECT_EQ(v.lists_version.rfind("standin-1/", 0), 0u) << v.lists_version;
  }
}

TEST(GuardRulesTest, OperatorPolicyDecidesSexualContentAlone) {
  StandIn standin;
  auto adult = standin.Load(GuardPolicy{Decision::kAllow});
  EXPECT_EQ(adult->Screen("a pineapple").decision, Decision::kAllow);
  // Everything else stays refused.
  EXPECT_EQ(adult->Screen("a robot pineapple").decision, Decision::kBlockReport);
  EXPECT_EQ(adult->Screen("my neighbour, unwrapped").decision, Decision::kBlock);
  EXPECT_EQ(adult->Screen("pineapple", {true, true, {}}).decision, Decision::kBlock);
}

TEST(GuardRulesTest, VerdictNamesSpansInThePromptAsTyped) {
  StandIn standin;
  auto g = standin.Load();
  const std::string prompt =
      "A R\xE2\x80\x8B"
      "OBOT and p.i.n.e.a.p.p.l.e juice? No: P1NEAPPLE";
  PromptVerdict v = g->Screen(prompt);
  ASSERT_EQ(v.decision, Decision::kBlockReport) << VerdictToJson(v);
  std::vector<std::string> spans;
  for (const TermHit& t : v.terms) {
    spans.push_back(t.category + "=" + prompt.substr(t.begin, t.end - t.begin) +
                    (t.masked ? "(masked)" : ""));
  }
  // The spaced-out pineapple is followed by "juice": a benign sense.
  EXPECT_EQ(spans, (std::vector<std::string>{"minor=R\xE2\x80\x8B"
                                             "OBOT",
                                             "sexual=p.i.n.e.a.p.p.l.e(masked)", "sexual=P1NEAPPLE"}));
  ASSERT_EQ(v.benign.size(), 1u);
  EXPECT_EQ(v.benign[0].source, "benign.txt:1");
  EXPECT_EQ(v.terms[0].source, "terms/minor.txt:1");
  const std::string json = VerdictToJson(v);
  EXPECT_NE(json.find("\"decision\":\"block_report\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"rule\":\"minor_sexual\""), std::string::npos) << json;
}

// ---- the real lists: evaluation sets ------------------------------------------

std::vector<BenignPrompt> Benign() {
  std::vector<BenignPrompt> out;
  Status s = testing::LoadBenign(kData + "/eval/benign.txt", &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::vector<AdversarialPrompt> Adversarial(int fills = 3) {
  std::vector<AdversarialPrompt> out;
  int templates = 0;
  Status s = testing::ExpandAdversarial(kData, fills, &out, &templates);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST(GuardEvalTest, BenignSetIsAllowed) {
  const auto benign = Benign();
  ASSERT_GE(benign.size(), 1000u);
  size_t blocked = 0;
  for (const BenignPrompt& p : benign) {
    PromptVerdict v = RealGuard().Screen(p.text);
    if (v.decision != Decision::kAllow) {
      ++blocked;
      // Benign prompts may be printed.
      ADD_FAILURE() << "benign.txt:" << p.line << " blocked: " << p.text << " " << VerdictToJson(v);
    }
  }
  EXPECT_LE(static_cast<double>(blocked) / static_cast<double>(benign.size()), 0.01);
}

// Targets (issue 7): >= 98% of the adversarial set blocked. The rotation
// ("any") uses the evasions every view undoes for every list word; a few
// templates name the two the variants view undoes only for one-word terms
// (a word split by a space, a vowel starred out). Every prompt of the
// first kind must be caught at its expected severity, and the whole set
// blocked at >= 98%; the figures are printed and in docs/guard.md.
TEST(GuardEvalTest, AdversarialSetIsBlocked) {
  const auto adversarial = Adversarial();
  ASSERT_GE(adversarial.size(), 300u);
  size_t blocked = 0;
  size_t severe_enough = 0;
  size_t handled = 0;
  size_t handled_caught = 0;
  std::vector<std::string> misses;
  for (const AdversarialPrompt& p : adversarial) {
    PromptVerdict v = RealGuard().Screen(p.text, p.context);
    const bool unhandled =
        p.evasions.find("split") != std::string::npos || p.evasions.find("star") != std::string::npos;
    if (v.decision != Decision::kAllow) ++blocked;
    if (!unhandled) ++handled;
    if (v.decision >= p.expected) {
      ++severe_enough;
      if (!unhandled) ++handled_caught;
    } else {
      misses.push_back(p.label + " -> " + DecisionName(v.decision));  // never the text
    }
  }
  const double n = static_cast<double>(adversarial.size());
  std::string listed;
  for (const std::string& m : misses) listed += "\n  " + m;
  EXPECT_EQ(handled_caught, handled) << listed;
  EXPECT_GE(blocked / n, 0.97) << listed;
  std::printf(
      "adversarial: %zu prompts from the templates, %.1f%% blocked, %.1f%% at the expected severity; "
      "without the unhandled evasions: %zu/%zu caught; misses:%s\n",
      adversarial.size(), 100 * blocked / n, 100 * severe_enough / n, handled_caught, handled,
      listed.c_str());
}

// Every word of every list, under every evasion the normaliser claims to
// undo, is still found as its category.
TEST(GuardEvalTest, EveryListWordSurvivesEveryEvasion) {
  for (const char* category : {"sexual", "undress", "minor", "suggestive", "real_person", "photo_edit"}) {
    std::vector<testing::SlotWord> words;
    ASSERT_TRUE(testing::LoadSlotWords(kData, category, "", &words).ok());
    ASSERT_FALSE(words.empty()) << category;
    size_t failures = 0;
    for (size_t w = 0; w < words.size(); ++w) {
      for (const std::string& evasion : testing::EvasionNames()) {
        const std::string prompt = "x " + testing::Evade(words[w].text, evasion, static_cast<int>(w)) + " y";
        PromptVerdict v = RealGuard().Screen(prompt);
        bool found = false;
        for (const TermHit& t : v.terms) found = found || t.category == category;
        if (!found && ++failures <= 20) {
          ADD_FAILURE() << words[w].source << " under " << evasion << " not found as " << category;
        }
      }
    }
    EXPECT_EQ(failures, 0u) << category;
  }
}

// ---- the fast path against the reference ---------------------------------------

std::string Summary(const PromptVerdict& v) {
  std::string s = DecisionName(v.decision);
  for (const TermHit& t : v.terms) {
    s += "|" + t.category + "@" + t.source + ":" + std::to_string(t.begin) + "-" + std::to_string(t.end) +
         (t.masked ? "m" : "");
  }
  for (const TermHit& t : v.benign)
    s += "|b@" + t.source + ":" + std::to_string(t.begin) + "-" + std::to_string(t.end);
  for (const RuleHit& r : v.rules) s += "|r:" + r.rule;
  return s;
}

TEST(GuardEquivalenceTest, HyperscanAgreesWithTheRegexReference) {
  std::vector<std::pair<std::string, PromptContext>> prompts;
  for (const BenignPrompt& p : Benign()) prompts.push_back({p.text, {}});
  for (const AdversarialPrompt& p : Adversarial()) prompts.push_back({p.text, p.context});
  // Mutants: benign prompts with list words and evasions spliced in.
  std::mt19937 rng(2026);
  std::vector<testing::SlotWord> words;
  for (const char* c : {"sexual", "minor", "undress", "suggestive"}) {
    ASSERT_TRUE(testing::LoadSlotWords(kData, c, "", &words).ok());
  }
  const auto benign = Benign();
  const auto& evasions = testing::EvasionNames();
  for (int i = 0; i < 1500; ++i) {
    std::string text = benign[rng() % benign.size()].text;
    const size_t at = text.find(' ', rng() % (text.size() + 1));
    const std::string word = testing::Evade(words[rng() % words.size()].text,
                                            evasions[rng() % evasions.size()], static_cast<int>(rng() % 100));
    text.insert(at == std::string::npos ? text.size() : at, " " + word + " ");
    prompts.push_back({text, {}});
  }
  size_t compared = 0;
  for (const auto& [text, ctx] : prompts) {
    const PromptVerdict fast = RealGuard().Screen(text, ctx);
    const PromptVerdict ref = RealGuard().ScreenReference(text, ctx);
    ASSERT_EQ(Summary(fast), Summary(ref)) << "prompt #" << compared;  // never the text
    ++compared;
  }
  EXPECT_GE(compared, 3000u);
}

TEST(GuardEquivalenceTest, ConcurrentScreensMatchSerialOnes) {
  const auto adversarial = Adversarial(1);
  const auto benign = Benign();
  std::vector<std::string> texts;
  for (size_t i = 0; i < 200 && i < benign.size(); ++i) texts.push_back(benign[i].text);
  for (const auto& p : adversarial) texts.push_back(p.text);
  std::vector<std::string> serial;
  for (const auto& t : texts) serial.push_back(Summary(RealGuard().Screen(t)));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          if (Summary(RealGuard().Screen(texts[(i + static_cast<size_t>(k) * 37) % texts.size()])) !=
              serial[(i + static_cast<size_t>(k) * 37) % texts.size()]) {
            ++mismatches[static_cast<size_t>(k)];
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

}  // namespace
}  // namespace safeguard::guard
