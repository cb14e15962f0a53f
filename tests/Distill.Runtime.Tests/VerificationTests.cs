using System.Text.Json;

namespace Distill.Runtime.Tests;

public class VerificationTests
{
    // Twelve pairs in two folds of six (S = same, D = different):
    //   fold 0 (pairs 0-5):  0.9 S, 0.8 D, 0.7 S, 0.4 S, 0.3 D, 0.1 D
    //   fold 1 (pairs 6-11): 0.85 S, 0.6 D, 0.5 S, 0.5 D, 0.2 S, 0.0 D
    private static readonly double[] HandScores = [0.9, 0.8, 0.7, 0.4, 0.3, 0.1, 0.85, 0.6, 0.5, 0.5, 0.2, 0.0];
    private static readonly bool[] HandSame = [true, false, true, true, false, false, true, false, true, false, true, false];

    [Fact]
    public void The_k_fold_accuracy_matches_a_hand_computed_case()
    {
        // Fold 0 is held out, the threshold is chosen on fold 1: distinct scores 0, .2, .5, .6, .85, so
        // the candidates are -1, .1, .35, .55, .725, 1.85. Correct predictions (score > t means same) of 6:
        //   -1: the 3 S | .1: 3 S + D 0 = 4 | .35: S .5 .85 + D 0 = 3 | .55: S .85 + D 0 .5 = 3
        //   .725: S .85 + 3 D = 4 | 1.85: the 3 D = 3.
        // .1 and .725 tie at 4/6: the smaller, .1 = (0 + .2)/2, wins. On fold 0: .9 S, .7 S, .4 S correct,
        // .8 D and .3 D wrong, .1 D correct (0.1 > 0.1 is false: the rule is strict) -> 4/6.
        // Fold 1 held out, threshold from fold 0: distinct scores .1 .3 .4 .7 .8 .9, candidates -.9, .2, .35,
        // .55, .75, .85, 1.9, correct: 3, 4, 5, 4, 3, 4, 3 -> .35 = (.3 + .4)/2 (5/6). On fold 1: .85 S,
        // .5 S, .0 D correct; .6 D, .5 D, .2 S wrong -> 3/6.
        // Mean 7/12, population std |4/6 - 3/6| / 2 = 1/12, mean threshold (.1 + .35)/2.
        var r = Verification.Evaluate(HandScores, HandSame, folds: 2);
        Assert.Equal(12, r.Pairs);
        Assert.Equal(6, r.SamePairs);
        Assert.Equal(6, r.DifferentPairs);
        Assert.Equal(2, r.Folds.Count);
        Assert.Equal(new VerificationFold(0, 6, 0.2 / 2, 4.0 / 6, 4.0 / 6), r.Folds[0]);
        Assert.Equal(0.1, r.Folds[0].Threshold); // exactly the score of pair 5, which is predicted different
        Assert.Equal(new VerificationFold(6, 6, (0.3 + 0.4) / 2, 5.0 / 6, 3.0 / 6), r.Folds[1]);
        Assert.Equal(7.0 / 12, r.Accuracy, 15);
        Assert.Equal(1.0 / 12, r.AccuracyStd, 15);
        Assert.Equal((0.1 + (0.3 + 0.4) / 2) / 2, r.Threshold, 15);
    }

    [Fact]
    public void Tar_at_far_and_auc_match_a_hand_computed_case()
    {
        // All twelve pairs. Different scores, highest first: .8 .6 .5 .3 .1 0; same: .9 .85 .7 .5 .4 .2.
        //   FAR 1e-3: 6e-3 of a false accept -> none allowed: t = .8, TAR = {.9, .85} = 2/6, FAR 0.
        //   FAR 0.2: 1.2 -> one allowed: t = .6 (the 2nd highest), TAR = {.9 .85 .7} = 3/6, FAR 1/6.
        //   FAR 1/3: two allowed: t = .5 (the 3rd highest); the same pair at .5 is not above it: TAR 3/6, FAR 2/6.
        //   FAR 0.5: three allowed: t = .3, TAR = {.9 .85 .7 .5 .4} = 5/6, FAR 3/6.
        //   FAR 0: as 1e-3. FAR 1: everything may be accepted: t = -inf, TAR 1, FAR 1.
        var r = Verification.Evaluate(HandScores, HandSame, folds: 2, fars: [1e-3, 0.2, 1.0 / 3, 0.5, 0, 1]);
        Assert.Equal(
            [
                new TarAtFar(1e-3, 0.8, 2.0 / 6, 0),
                new TarAtFar(0.2, 0.6, 3.0 / 6, 1.0 / 6),
                new TarAtFar(1.0 / 3, 0.5, 3.0 / 6, 2.0 / 6),
                new TarAtFar(0.5, 0.3, 5.0 / 6, 3.0 / 6),
                new TarAtFar(0, 0.8, 2.0 / 6, 0),
                new TarAtFar(1, double.NegativeInfinity, 1, 1),
            ],
            r.TarAtFar);
        // AUC: same pairs beating different ones: .9 -> 6, .85 -> 6, .7 -> 5, .5 -> 3 and a tie (½),
        // .4 -> 3, .2 -> 2: 25.5 of 36.
        Assert.Equal(25.5 / 36, r.Auc);
    }

    [Fact]
    public void The_result_writes_clean_metric_names()
    {
        var r = Verification.Evaluate(HandScores, HandSame, folds: 2);
        var values = new Dictionary<string, double>();
        r.WriteTo(values, "val_");
        Assert.Equal(
            ["val_verify_acc", "val_verify_acc_std", "val_verify_threshold", "val_tar_far1e-3", "val_tar_far1e-3_threshold",
             "val_tar_far1e-4", "val_tar_far1e-4_threshold", "val_auc"],
            values.Keys);
        Assert.Equal(7.0 / 12, values["val_verify_acc"], 15);
        Assert.Equal(2.0 / 6, values["val_tar_far1e-4"]);
        Assert.Equal(0.8, values["val_tar_far1e-3_threshold"]);
        Assert.Equal(25.5 / 36, values["val_auc"]);

        Assert.Equal("1e-3", Verification.FarName(1e-3));
        Assert.Equal("1e-4", Verification.FarName(0.0001));
        Assert.Equal("5e-2", Verification.FarName(0.05));
        Assert.Equal("1.5e-4", Verification.FarName(1.5e-4));
        Assert.Equal("1e-6", Verification.FarName(1e-6));
        Assert.Equal("1e0", Verification.FarName(1));
        Assert.Equal("0", Verification.FarName(0));
    }

    [Fact]
    public void Folds_are_consecutive_and_the_first_ones_take_the_remainder()
    {
        Assert.Equal([0, 600, 1200, 1800, 2400, 3000, 3600, 4200, 4800, 5400, 6000], Verification.FoldBounds(6000, 10));
        Assert.Equal([0, 3, 6, 8, 10], Verification.FoldBounds(10, 4));
        var scores = Enumerable.Range(0, 10).Select(i => (double)i).ToArray();
        var same = scores.Select(s => s >= 5).ToArray();
        var r = Verification.Evaluate(scores, same, folds: 4);
        Assert.Equal([(0, 3), (3, 3), (6, 2), (8, 2)], r.Folds.Select(f => (f.Start, f.Count)));
        // Perfectly separable: the threshold is the midpoint of the training scores around the gap
        // (fold 1 holds 3, 4, 5, so its training neighbours there are 2 and 6), everything right.
        Assert.Equal([4.5, 4, 4.5, 4.5], r.Folds.Select(f => f.Threshold));
        Assert.Equal(1.0, r.Accuracy);
        Assert.Equal(0.0, r.AccuracyStd);
        Assert.Equal(1.0, r.Auc);
    }

    [Fact]
    public void Extreme_candidates_are_chosen_when_they_are_best()
    {
        // Training folds where predicting everything same (or everything different) wins.
        double[] scores = [0.3, 0.2, 0.5, 0.4, 0.6, 0.7];
        bool[] allSame = [true, true, true, true, true, true];
        var r = Verification.Evaluate(scores, allSame, folds: 3);
        Assert.Equal([0.4 - 1, 0.2 - 1, 0.2 - 1], r.Folds.Select(f => f.Threshold));
        Assert.Equal(1.0, r.Accuracy);
        Assert.True(double.IsNaN(r.Auc));
        Assert.All(r.TarAtFar, t => Assert.True(double.IsNaN(t.Tar) && double.IsNaN(t.Threshold)));

        var allDifferent = new bool[6];
        r = Verification.Evaluate(scores, allDifferent, folds: 3);
        Assert.Equal([0.7 + 1, 0.7 + 1, 0.5 + 1], r.Folds.Select(f => f.Threshold));
        Assert.Equal(1.0, r.Accuracy);
        Assert.Equal(new TarAtFar(1e-3, 0.7, double.NaN, 0), r.TarAtFar[0]);
    }

    [Fact]
    public void Neighbouring_doubles_are_still_separated()
    {
        // (a + b)/2 rounds onto b for these two neighbours; the threshold must stay in [a, b).
        var a = Math.BitIncrement(1.0);
        var b = Math.BitIncrement(a);
        Assert.Equal(b, (a + b) / 2);
        var r = Verification.Evaluate([a, b, a, b], [false, true, false, true], folds: 2);
        Assert.All(r.Folds, f => Assert.Equal(a, f.Threshold));
        Assert.Equal(1.0, r.Accuracy);
    }

    [Fact]
    public void A_fold_with_one_class_only_is_measured_as_usual()
    {
        double[] scores = [0.9, 0.8, 0.7, 0.2, 0.6, 0.1];
        bool[] same = [true, true, true, false, true, false];
        var r = Verification.Evaluate(scores, same, folds: 3);
        Assert.Equal(1.0, r.Folds[0].Accuracy); // fold 0 holds two same pairs
        Assert.Equal(1.0, r.Accuracy);
    }

    [Fact]
    public void The_protocol_matches_an_independent_numpy_computation()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "fixtures", "verification_reference.json")));
        var cases = doc.RootElement.GetProperty("cases");
        Assert.Equal(3, cases.GetArrayLength());
        foreach (var c in cases.EnumerateArray())
        {
            var name = c.GetProperty("name").GetString();
            var scores = c.GetProperty("scores").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var same = c.GetProperty("same").EnumerateArray().Select(e => e.GetInt32() != 0).ToArray();
            var fars = c.GetProperty("fars").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var e = c.GetProperty("expected");
            var r = Verification.Evaluate(scores, same, c.GetProperty("folds").GetInt32(), fars);

            var folds = e.GetProperty("folds").EnumerateArray().ToArray();
            Assert.Equal(folds.Length, r.Folds.Count);
            for (var k = 0; k < folds.Length; k++)
            {
                var f = folds[k];
                Assert.True(f.GetProperty("start").GetInt32() == r.Folds[k].Start && f.GetProperty("count").GetInt32() == r.Folds[k].Count, $"{name}: fold {k} bounds");
                // Thresholds are midpoints computed the same way, accuracies counts over sizes: exact.
                Assert.True(Num(f, "threshold") == r.Folds[k].Threshold, $"{name}: fold {k} threshold {r.Folds[k].Threshold}, expected {Num(f, "threshold")}");
                Assert.True(Num(f, "train_accuracy") == r.Folds[k].TrainAccuracy, $"{name}: fold {k} train accuracy");
                Assert.True(Num(f, "accuracy") == r.Folds[k].Accuracy, $"{name}: fold {k} accuracy");
            }
            // Means and the std are sums in another order: within 1e-12.
            Assert.True(Math.Abs(Num(e, "accuracy") - r.Accuracy) <= 1e-12, $"{name}: accuracy {r.Accuracy}, expected {Num(e, "accuracy")}");
            Assert.True(Math.Abs(Num(e, "accuracy_std") - r.AccuracyStd) <= 1e-12, $"{name}: std {r.AccuracyStd}, expected {Num(e, "accuracy_std")}");
            Assert.True(Math.Abs(Num(e, "threshold") - r.Threshold) <= 1e-12, $"{name}: threshold {r.Threshold}, expected {Num(e, "threshold")}");
            Assert.True(Num(e, "auc") == r.Auc, $"{name}: AUC {r.Auc}, expected {Num(e, "auc")}");

            var tars = e.GetProperty("tar").EnumerateArray().ToArray();
            Assert.Equal(tars.Length, r.TarAtFar.Count);
            for (var j = 0; j < tars.Length; j++)
            {
                var expected = new TarAtFar(Num(tars[j], "far"), Num(tars[j], "threshold"), Num(tars[j], "tar"), Num(tars[j], "achieved_far"));
                Assert.True(expected == r.TarAtFar[j], $"{name}: {r.TarAtFar[j]}, expected {expected}");
            }
        }
    }

    [Fact]
    public void Bad_input_is_rejected_with_a_message_that_says_what_is_wrong()
    {
        var e = Assert.Throws<ArgumentException>(() => Verification.Evaluate([0.1, 0.2, 0.3], [true, false], folds: 2));
        Assert.Contains("3 scores but 2 same/different flags", e.Message);
        e = Assert.Throws<ArgumentException>(() => Verification.Evaluate([0.1, 0.2, 0.3], [true, false, true], folds: 10));
        Assert.Contains("3 pairs cannot make 10 folds", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Verification.Evaluate([0.1, 0.2, 0.3], [true, false, true], folds: 1));
        e = Assert.Throws<ArgumentException>(() => Verification.Evaluate([0.1, 0.2, 0.3, double.NaN], [true, false, true, false], folds: 2));
        Assert.Contains("score 3 is NaN", e.Message);
        e = Assert.Throws<ArgumentException>(() => Verification.Evaluate([0.1, double.NegativeInfinity, 0.3, 0.4], [true, false, true, false], folds: 2));
        Assert.Contains("score 1 is -Infinity", e.Message);
        var far = Assert.Throws<ArgumentOutOfRangeException>(() => Verification.Evaluate([0.1, 0.2], [true, false], folds: 2, fars: [1e-3, 1.5]));
        Assert.Contains("false accept rate 1", far.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Verification.Evaluate([0.1, 0.2], [true, false], folds: 2, fars: [double.NaN]));
    }

    private static double Num(JsonElement e, string property) => JsonNumbers.Read(e.GetProperty(property)) ?? double.NaN;
}
