using System.Text.Json;

namespace Distill.Runtime.Tests;

public class DetectionEvaluationTests
{
    // One class, one image, three boxes of area 100 (all "small"), four detections (x1, y1, x2, y2):
    //   A = (0, 0, 10, 10), B = (20, 0, 30, 10), C = (40, 0, 50, 10)
    //   d1 .9 = A exactly (IoU 1); d2 .8 = (20, 0, 30, 8) on B: 80 / (100 + 80 - 80) = 0.8;
    //   d3 .7 = A again (a duplicate); d4 .6 = (40, 0, 50, 5) on C: 50 / 100 = 0.5.
    private static readonly double[] HandGt = [0, 0, 10, 10, 20, 0, 30, 10, 40, 0, 50, 10];
    private static readonly double[] HandBoxes = [0, 0, 10, 10, 20, 0, 30, 8, 0, 0, 10, 10, 40, 0, 50, 5];
    private static readonly double[] HandScores = [0.9, 0.8, 0.7, 0.6];

    [Fact]
    public void Coco_ap_matches_a_hand_computed_case()
    {
        // Per threshold, in score order (npig = 3; precision tp / (tp + fp), here without pycocotools' 2.2e-16):
        //   t = .50: TP TP FP TP  -> recall 1/3 2/3 2/3 1, precision 1 1 2/3 3/4, envelope 1 1 3/4 3/4.
        //            Recall points 0 .. .33 (34 of them) reach d1, .34 .. .66 (33) d2, .67 .. 1 (34) d4:
        //            AP = (67 * 1 + 34 * 3/4) / 101 = 92.5 / 101; recall 1.
        //   t = .55 .. .80 (six thresholds; d2's IoU is exactly .8 and matches at .8): d4 is a FP:
        //            TP TP FP FP -> points up to .66 have precision 1, the rest none: AP = 67 / 101; recall 2/3.
        //   t = .85, .90, .95: TP FP FP FP -> points up to .33: AP = 34 / 101; recall 1/3.
        // AP = (92.5 + 6 * 67 + 3 * 34) / 1010 = 596.5 / 1010; AP50 = 92.5 / 101; AP75 (in the second group) = 67 / 101.
        // AR100 = AR10 = (1 + 6 * 2/3 + 3 * 1/3) / 10 = 0.6; AR1 keeps d1 only: recall 1/3 at every threshold.
        // Every box is small (area 100 <= 32²): APs = AP, ARs = AR100; no medium or large box: -1.
        var coco = new CocoEvaluator(1);
        coco.Add(HandBoxes, HandScores, [1, 1, 1, 1], HandGt, [1, 1, 1]);
        var r = coco.Compute();
        const double tol = 1e-14; // pycocotools' np.spacing(1) in the precision's denominator
        Assert.Equal(596.5 / 1010, r.AP, tol);
        Assert.Equal(92.5 / 101, r.AP50, tol);
        Assert.Equal(67.0 / 101, r.AP75, tol);
        Assert.Equal(596.5 / 1010, r.APs, tol);
        Assert.Equal(-1, r.APm);
        Assert.Equal(-1, r.APl);
        Assert.Equal(3, r.AR.Count);
        Assert.Equal(1.0 / 3, r.AR[0], tol);
        Assert.Equal(0.6, r.AR[1], tol);
        Assert.Equal(0.6, r.AR[2], tol);
        Assert.Equal(0.6, r.ARs, tol);
        Assert.Equal(-1, r.ARm);
        Assert.Equal(-1, r.ARl);
        Assert.Equal(596.5 / 1010, r.ClassAP[0], tol);
        Assert.Equal(92.5 / 101, r.ClassAP50[0], tol);
        Assert.Equal(0.6, r.ClassAR[0], tol);
        // The precision array itself: t = .5, the recall points around 1/3 and 2/3.
        Assert.Equal(1, r.Precision[0, 33, 0, 0, 2], tol);
        Assert.Equal(1, r.Precision[0, 66, 0, 0, 2], tol);
        Assert.Equal(0.75, r.Precision[0, 67, 0, 0, 2], tol);
        Assert.Equal(0, r.Precision[9, 34, 0, 0, 2]);
        Assert.Equal(2.0 / 3, r.Recall[6, 0, 0, 2]); // t = .8 (index 6) still matches d2
        Assert.Equal(1.0 / 3, r.Recall[7, 0, 0, 2]);
        Assert.Equal(-1, r.Recall[0, 0, 2, 2]);
    }

    [Fact]
    public void The_hard_subset_ignores_the_other_boxes_and_keeps_unmatched_detections_as_false_positives()
    {
        // Only B is hard (npig = 1). d1 matches A, an ignored box: ignored. d3 finds A taken and nothing else: a false
        // positive (it is inside the area range). d4 matches C (ignored) at t = .5 and nothing above.
        //   t = .50 .. .80: d2 TP, d3 FP -> recall 1 reached at d2 with precision 1: AP 1, recall 1.
        //   t = .85 .. .95: d2 misses B: no true positive: AP 0, recall 0.
        // AP = AR100 = 7 / 10. With the duplicate scored above d2 the FP would count: see the next assertion.
        var coco = new CocoEvaluator(1);
        coco.Add(HandBoxes, HandScores, [1, 1, 1, 1], HandGt, [1, 1, 1], gtHard: [false, true, false]);
        var hard = coco.Compute(GroundTruthSubset.Hard);
        Assert.Equal(GroundTruthSubset.Hard, hard.Subset);
        Assert.Equal(0.7, hard.AP, 1e-14);
        Assert.Equal(1, hard.AP50, 1e-14);
        Assert.Equal(0.7, hard.AR[2], 1e-14);

        // d3 scored .85 (above d2): at t <= .8, FP then TP: precision 1/2 at recall 1 -> AP = (7 * .5) / 10.
        coco.Reset();
        coco.Add(HandBoxes, [0.9, 0.8, 0.85, 0.6], [1, 1, 1, 1], HandGt, [1, 1, 1], gtHard: [false, true, false]);
        Assert.Equal(0.35, coco.Compute(GroundTruthSubset.Hard).AP, 1e-14);

        // Not hard (same scores: d1 .9, d3 .85, d2 .8, d4 .6): A and C count (npig 2), B is ignored.
        //   t = .5: d1 TP (A), d3 FP (A taken, nothing else overlaps), d2 ignored (it matches B), d4 TP (C):
        //           recall .5 .5 .5 1, precision 1 1/2 1/2 2/3 -> envelope 1 2/3 2/3 2/3: 51 points (r <= .5) at 1,
        //           50 at 2/3: AP50 = (51 + 100/3) / 101; recall 1.
        //   t = .55 .. .8: d4 misses C (IoU .5): TP FP ign FP -> 51 points at 1: 51 / 101; recall .5.
        //   t = .85 .. .95: d2 misses B too, and is then a false positive: TP FP FP FP -> 51 / 101; recall .5.
        var notHard = coco.Compute(GroundTruthSubset.NotHard);
        Assert.Equal((51 + 100.0 / 3) / 101, notHard.AP50, 1e-14);
        Assert.Equal((51 + 100.0 / 3 + 9 * 51) / 1010, notHard.AP, 1e-14);
        Assert.Equal(0.55, notHard.AR[2], 1e-14);
    }

    [Fact]
    public void Crowd_boxes_match_repeatedly_by_intersection_over_the_detection_area_and_are_ignored()
    {
        // Crowd box (0, 0, 100, 100) and a regular box (200, 200, 220, 220). Detections: three inside the crowd box
        // (IoU with it = intersection / detection area = 1), one on the regular box, one elsewhere.
        var coco = new CocoEvaluator(1);
        coco.Add(
            [0, 0, 10, 10, 50, 50, 90, 90, 5, 5, 95, 95, 200, 200, 220, 220, 400, 400, 420, 420],
            [0.9, 0.8, 0.7, 0.6, 0.5], [1, 1, 1, 1, 1],
            [0, 0, 100, 100, 200, 200, 220, 220], [1, 1], gtCrowd: [true, false]);
        var r = coco.Compute();
        // The three crowd matches are ignored; then TP, FP: precision 1 up to recall 1 -> AP 1 at every threshold.
        Assert.Equal(1, r.AP, 1e-14);
        Assert.Equal(1, r.AR[2]);
        // Without the crowd flag the big box is a regular one: IoUs .01, .16 and .81 in score order, so the first two
        // are false positives ranked above every true positive.
        coco.Reset();
        coco.Add(
            [0, 0, 10, 10, 50, 50, 90, 90, 5, 5, 95, 95, 200, 200, 220, 220, 400, 400, 420, 420],
            [0.9, 0.8, 0.7, 0.6, 0.5], [1, 1, 1, 1, 1],
            [0, 0, 100, 100, 200, 200, 220, 220], [1, 1]);
        Assert.True(coco.Compute().AP < 1);
    }

    [Fact]
    public void Voc_ap_matches_a_hand_computed_case()
    {
        // Continuous coordinates (offset 0): d1 TP (A), d2 TP (B, .8), d3: its best box is A, taken: FP; d4 TP (C, .5 >= .5).
        // tp 1 2 2 3, fp 0 0 1 1: recall 1/3 2/3 2/3 1, precision 1 1 2/3 3/4.
        // Area: envelope 1 1 1 3/4 3/4 at recall steps 1/3, 1/3, 1/3: 1/3 + 1/3 + 1/3 * 3/4 = 11/12.
        // 11-point: r = 0 .. .6 (seven points) reach precision 1, r = .7 .. 1 (four) 3/4: (7 + 3) / 11 = 10/11.
        var voc = new VocEvaluator(1, pixelOffset: 0);
        voc.Add(HandBoxes, HandScores, [1, 1, 1, 1], HandGt, [1, 1, 1]);
        var r = voc.Compute();
        Assert.Equal(11.0 / 12, r.AP, 1e-15);
        Assert.Equal(10.0 / 11, r.AP07, 1e-15);
        Assert.Equal([3], r.Positives);

        // B difficult (npos 2): d2 matches it and is neither TP nor FP. tp 1 1 1 2, fp 0 0 1 1: recall .5 .5 .5 1,
        // precision 1 1 1/2 2/3. Area: .5 * 1 + .5 * 2/3 = 5/6. 11-point: six points (r <= .5) at 1, five at 2/3: 28/33.
        // With the devkit's +1 the IoUs are d2 99/121 and d4 66/121: the same matches.
        foreach (var offset in new[] { 0.0, 1.0 })
        {
            voc = new VocEvaluator(1, pixelOffset: offset);
            voc.Add(HandBoxes, HandScores, [1, 1, 1, 1], HandGt, [1, 1, 1], gtDifficult: [false, true, false]);
            r = voc.Compute();
            Assert.Equal(5.0 / 6, r.AP, 1e-15);
            Assert.Equal(28.0 / 33, r.AP07, 1e-15);
            Assert.Equal([2], r.Positives);
        }
    }

    [Fact]
    public void A_voc_duplicate_is_a_false_positive_where_coco_takes_the_next_best_box()
    {
        // P = (0, 0, 10, 10), Q = (2, 0, 12, 10); two detections both exactly P. The second's best box is P, taken:
        // VOC counts it false (the devkit never looks at Q), COCO matches it to Q (IoU 80 / 120 = 2/3).
        double[] gt = [0, 0, 10, 10, 2, 0, 12, 10];
        double[] boxes = [0, 0, 10, 10, 0, 0, 10, 10];
        var voc = new VocEvaluator(1, pixelOffset: 0);
        voc.Add(boxes, [0.9, 0.8], [1, 1], gt, [1, 1]);
        // tp 1 1, fp 0 1: recall .5 .5, precision 1 1/2: area .5; 11-point: six points at 1: 6/11.
        Assert.Equal(0.5, voc.Compute().AP, 1e-15);
        Assert.Equal(6.0 / 11, voc.Compute().AP07, 1e-15);

        // COCO: t = .5 .. .65 (four thresholds) both TP: AP 1; t >= .7 the second is a FP: 51 recall points (up to .5)
        // at precision 1: 51 / 101.
        var coco = new CocoEvaluator(1);
        coco.Add(boxes, [0.9, 0.8], [1, 1], gt, [1, 1]);
        Assert.Equal((4 + 6 * 51.0 / 101) / 10, coco.Compute().AP, 1e-14);
    }

    [Fact]
    public void Classes_without_ground_truth_are_minus_one_and_left_out_of_the_mean()
    {
        // Class 1: a perfect detection. Class 2: detections only. Class 3: nothing.
        var coco = new CocoEvaluator(3, classNames: ["cat", "dog", "eel"]);
        coco.Add([0, 0, 50, 50, 0, 0, 40, 40], [0.9, 0.95], [1, 2], [0, 0, 50, 50], [1]);
        coco.Add([], [], [], [], []); // an empty image
        var r = coco.Compute();
        Assert.Equal(2, r.Images);
        Assert.Equal(1, r.AP, 1e-14);
        Assert.Equal(new double[] { 1, -1, -1 }, r.ClassAP.Select(v => Math.Round(v, 12)));
        Assert.Equal(-1, r.APs); // the box is 2500: medium
        Assert.Equal(1, r.APm, 1e-14);
        var values = r.ToDictionary("val/");
        Assert.Equal(
            ["val/AP", "val/AP50", "val/AP75", "val/APs", "val/APm", "val/APl", "val/AR1", "val/AR10", "val/AR100", "val/ARs",
             "val/ARm", "val/ARl", "val/AP_cat", "val/AP_dog", "val/AP_eel"],
            values.Keys);
        Assert.Equal(12, r.Stats.Count);
        Assert.Equal(["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"], r.ToDictionary(perClass: false).Keys);

        // No ground truth at all: every number -1 (pycocotools prints -1 for each).
        coco.Reset();
        coco.Add([0, 0, 1, 1], [0.5], [2], [], []);
        Assert.All(coco.Compute().Stats, v => Assert.Equal(-1, v));

        var voc = new VocEvaluator(2);
        voc.Add([0, 0, 50, 50], [0.9], [1], [0, 0, 50, 50], [1]);
        var v = voc.Compute();
        Assert.Equal(1, v.AP);
        Assert.True(double.IsNaN(v.ClassAP[1]));
        Assert.Equal(["VOC_AP50", "VOC07_AP50", "VOC_AP50_1", "VOC_AP50_2"], v.ToDictionary().Keys);
        Assert.Equal("AP70", new VocResult(0, 0.7, 1, 0, 0, [], [], [], []).ApName);

        // Both are metrics a MetricSet reports together.
        using var set = new MetricSet(new CocoEvaluator(2), voc);
        ((CocoEvaluator)set.Metrics[0]).Add([0, 0, 50, 50], [0.9], [1], [0, 0, 50, 50], [1]);
        var snapshot = set.Snapshot("val/");
        Assert.Equal(1, snapshot["val/AP"], 1e-14);
        Assert.Equal(-1, snapshot["val/AP_2"]);
        Assert.Equal(1, snapshot["val/VOC_AP50"]);
        set.Reset();
        Assert.Equal(0, voc.Images);

        // Subsets and per-class values as metric columns.
        var both = new CocoEvaluator(1) { MetricSubsets = [GroundTruthSubset.All, GroundTruthSubset.Hard], PerClassMetrics = false };
        both.Add(HandBoxes, HandScores, [1, 1, 1, 1], HandGt, [1, 1, 1], gtHard: [false, true, false]);
        var written = new Dictionary<string, double>();
        both.WriteTo(written, "val/");
        Assert.Equal(24, written.Count);
        Assert.Equal(596.5 / 1010, written["val/AP"], 1e-14);
        Assert.Equal(0.7, written["val/hard_AP"], 1e-14);
        Assert.Equal(0.7, written["val/hard_AR100"], 1e-14);
        Assert.DoesNotContain("val/AP_1", written.Keys);
    }

    [Fact]
    public void Area_ranges_scale_with_the_image_side()
    {
        Assert.Equal(new CocoAreaRanges(1024, 9216, 1e10), CocoAreaRanges.Default);
        Assert.Equal(CocoAreaRanges.Default, CocoAreaRanges.ForImageSide(640));
        var small = CocoAreaRanges.ForImageSide(128);
        Assert.Equal(6.4 * 6.4, small.Small, 1e-12);
        Assert.Equal(19.2 * 19.2, small.Medium, 1e-12);
        Assert.Equal((0.0, 1e10), small[0]);
        Assert.Equal((small.Small, small.Medium), small[2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => CocoAreaRanges.ForImageSide(0));
        Assert.Throws<ArgumentException>(() => new CocoEvaluator(2, new CocoAreaRanges(100, 50)));

        // A 10 x 10 box is medium on 128-pixel images (40.96 < 100 <= 368.64), small with COCO's ranges.
        var coco = new CocoEvaluator(1, small);
        coco.Add([0, 0, 10, 10], [0.9], [1], [0, 0, 10, 10], [1]);
        var r = coco.Compute();
        Assert.Equal(-1, r.APs);
        Assert.Equal(1, r.APm, 1e-14);
        // The given area decides the range, not the box (pycocotools reads the annotation's area).
        coco.Reset();
        coco.Add([0, 0, 10, 10], [0.9], [1], [0, 0, 10, 10], [1], gtArea: [1000.0]);
        Assert.Equal(1, coco.Compute().APl, 1e-14);
    }

    [Fact]
    public void Thresholds_are_numpys_linspace()
    {
        Assert.Equal(10, CocoEvaluator.IouThresholds.Count);
        Assert.Equal(0.8999999999999999, CocoEvaluator.IouThresholds[8]); // as np.linspace(.5, .95, 10)
        Assert.Equal(0.75, CocoEvaluator.IouThresholds[5]);
        Assert.Equal(101, CocoEvaluator.RecallThresholds.Count);
        Assert.Equal(7 * 0.01, CocoEvaluator.RecallThresholds[7]);
        Assert.Equal(1.0, CocoEvaluator.RecallThresholds[100]);
    }

    [Fact]
    public void Tensors_and_arrays_give_the_same_result()
    {
        using var scope = torch.NewDisposeScope();
        var coco = new CocoEvaluator(1);
        coco.Add(
            torch.tensor(HandBoxes.Select(v => (float)v).ToArray(), new long[] { 4, 4 }), torch.tensor(HandScores.Select(v => (float)v).ToArray()),
            torch.tensor(new long[] { 1, 1, 1, 1 }), torch.tensor(HandGt.Select(v => (float)v).ToArray(), new long[] { 3, 4 }), torch.tensor(new long[] { 1, 1, 1 }),
            gtCrowd: torch.tensor(new[] { false, false, false }), gtHard: torch.tensor(new long[] { 0, 1, 0 }));
        coco.Add(torch.zeros([0, 4]), torch.zeros([0]), torch.zeros([0], ScalarType.Int64), torch.zeros([0, 4]), torch.zeros([0], ScalarType.Int64));
        var r = coco.Compute();
        Assert.Equal(2, r.Images);
        Assert.Equal(596.5 / 1010, r.AP, 1e-14);
        Assert.Equal(0.7, coco.Compute(GroundTruthSubset.Hard).AP, 1e-14);

        var voc = new VocEvaluator(1, pixelOffset: 0);
        voc.Add(torch.tensor(HandBoxes, new long[] { 4, 4 }), torch.tensor(HandScores), torch.tensor(new int[] { 1, 1, 1, 1 }), torch.tensor(HandGt, new long[] { 3, 4 }),
            torch.tensor(new int[] { 1, 1, 1 }), torch.tensor(new[] { false, true, false }));
        Assert.Equal(5.0 / 6, voc.Compute().AP, 1e-15);
    }

    [Fact]
    public void Bad_input_names_the_image_and_the_row()
    {
        var coco = new CocoEvaluator(3);
        coco.Add([], [], [], [], []);
        coco.Add([0, 0, 5, 5], [0.5], [1], [0, 0, 5, 5], [1]);
        // The next image is image 2.
        var e = Assert.Throws<ArgumentException>(() => coco.Add([0, 0, 5, 5, 1], [0.5], [1], [], []));
        Assert.Contains("image 2: the detection boxes have 5 values, not a multiple of 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => coco.Add([0, 0, 5, 5, 1, 1, 2, 2], [0.5], [1, 1], [], []));
        Assert.Contains("image 2: there are 2 detection boxes but 1 scores", e.Message);
        e = Assert.Throws<ArgumentException>(() => coco.Add([0, 0, 5, 5], [0.5], [1, 2], [], []));
        Assert.Contains("image 2: there are 1 detection boxes but 2 labels", e.Message);
        e = Assert.Throws<ArgumentException>(() => coco.Add([0, 0, 5, 5, 1, double.NaN, 2, 2], [0.5, 0.4], [1, 1], [], []));
        Assert.Contains("image 2: detection 1 has box (1, NaN, 2, 2) with a non-finite y1", e.Message);
        e = Assert.Throws<ArgumentException>(() => coco.Add([0, 0, 5, 5], [double.PositiveInfinity], [1], [], []));
        Assert.Contains("image 2: detection 0 has score Infinity", e.Message);
        e = Assert.Throws<ArgumentException>(() => coco.Add([0, 0, 5, 5, 6, 0, 5, 5], [0.5, 0.4], [1, 1], [], []));
        Assert.Contains("detection 1 has box (6, 0, 5, 5) with x2 < x1", e.Message);
        e = Assert.Throws<ArgumentException>(() => coco.Add([], [], [], [0, 0, 5, 5, 0, 9, 5, 5], [1, 1]));
        Assert.Contains("image 2: ground-truth box 1 has box (0, 9, 5, 5) with y2 < y1", e.Message);
        e = Assert.Throws<ArgumentException>(() => coco.Add([0, 0, 5, 5], [0.5], [0], [], []));
        Assert.Contains("image 2: detection 0 has label 0; labels are 1..3", e.Message);
        e = Assert.Throws<ArgumentException>(() => coco.Add([], [], [], [0, 0, 5, 5], [4]));
        Assert.Contains("image 2: ground-truth box 0 has label 4; labels are 1..3", e.Message);
        e = Assert.Throws<ArgumentException>(() => coco.Add([], [], [], [0, 0, 5, 5], [1], gtCrowd: [true, false]));
        Assert.Contains("1 ground-truth boxes but 2 crowd flags", e.Message);
        e = Assert.Throws<ArgumentException>(() => coco.Add([], [], [], [0, 0, 5, 5], [1], gtHard: [true, false]));
        Assert.Contains("2 hard flags", e.Message);
        e = Assert.Throws<ArgumentException>(() => coco.Add([], [], [], [0, 0, 5, 5], [1], gtArea: [-1.0]));
        Assert.Contains("ground-truth box 0 has area -1", e.Message);
        Assert.Equal(2, coco.Images); // nothing rejected was added

        // Zero-area boxes are allowed (pycocotools gives them IoU 0 with everything).
        coco.Add([3, 3, 3, 8], [0.5], [1], [1, 1, 1, 1], [1]);
        Assert.Equal(3, coco.Images);

        using var scope = torch.NewDisposeScope();
        e = Assert.Throws<ArgumentException>(() => coco.Add(torch.zeros([2, 3]), torch.zeros([2]), torch.ones([2], ScalarType.Int64), torch.zeros([0, 4]), torch.zeros([0], ScalarType.Int64)));
        Assert.Contains("image 3: the detection boxes must be a [N, 4] tensor", e.Message);
        e = Assert.Throws<ArgumentException>(() => coco.Add(torch.zeros([2, 4]), torch.zeros([2]), torch.ones([2]), torch.zeros([0, 4]), torch.zeros([0], ScalarType.Int64)));
        Assert.Contains("the detection labels must be an integer tensor", e.Message);

        var voc = new VocEvaluator(2);
        e = Assert.Throws<ArgumentException>(() => voc.Add([], [], [], [0, 0, 5, 5], [1], gtDifficult: [true, true]));
        Assert.Contains("image 0: there are 1 ground-truth boxes but 2 difficult flags", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new VocEvaluator(2, pixelOffset: 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VocEvaluator(2, iouThreshold: 0));
        Assert.Throws<ArgumentException>(() => new CocoEvaluator(2, maxDetections: [10, 1]));
        Assert.Throws<ArgumentException>(() => new CocoEvaluator(2, classNames: ["a"]));
    }

    [Fact]
    public void Both_protocols_match_an_independent_numpy_computation()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "fixtures", "detection_eval_reference.json")));
        var cases = doc.RootElement.GetProperty("cases");
        Assert.Equal(5, cases.GetArrayLength());
        var compared = 0;
        foreach (var c in cases.EnumerateArray())
        {
            var name = c.GetProperty("name").GetString()!;
            var classes = c.GetProperty("classes").GetInt32();
            var ranges = Doubles(c.GetProperty("area_ranges"));
            var maxDets = c.GetProperty("max_dets").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            // Several threads in some cases: the result must not depend on how classes are spread over threads.
            var coco = new CocoEvaluator(classes, new CocoAreaRanges(ranges[0], ranges[1], ranges[2]), maxDets) { MaxThreads = name.StartsWith("random", StringComparison.Ordinal) ? 4 : 1 };
            var images = c.GetProperty("images").EnumerateArray().ToArray();
            foreach (var img in images)
            {
                coco.Add(Doubles(img.GetProperty("boxes")), Doubles(img.GetProperty("scores")), Longs(img.GetProperty("labels")),
                    Doubles(img.GetProperty("gt_boxes")), Longs(img.GetProperty("gt_labels")), Flags(img.GetProperty("gt_crowd")),
                    Flags(img.GetProperty("gt_hard")), img.TryGetProperty("gt_area", out var area) ? Doubles(area) : []);
            }

            foreach (var subset in c.GetProperty("coco").EnumerateObject())
            {
                var which = subset.Name switch { "all" => GroundTruthSubset.All, "hard" => GroundTruthSubset.Hard, _ => GroundTruthSubset.NotHard };
                var r = coco.Compute(which);
                var e = subset.Value;
                var label = $"{name}/{subset.Name}";
                compared += Compare(label + " stats", Doubles(e.GetProperty("stats")), r.Stats);
                compared += Compare(label + " class AP", Doubles(e.GetProperty("class_ap")), r.ClassAP);
                compared += Compare(label + " class AP50", Doubles(e.GetProperty("class_ap50")), r.ClassAP50);
                var recall = e.GetProperty("recall");
                var precisionMean = e.GetProperty("precision_mean");
                // Per-class AR: the fixture's recall entries of the class (all areas, the largest maxDet), averaged.
                var classAr = Enumerable.Range(0, classes).Select(k =>
                {
                    var entries = Enumerable.Range(0, 10).Select(t => recall[t][k][0][maxDets.Length - 1].GetDouble()).Where(v => v > -1).ToArray();
                    return entries.Length == 0 ? -1 : entries.Average();
                }).ToArray();
                compared += Compare(label + " class AR", classAr, r.ClassAR);
                for (var t = 0; t < 10; t++)
                    for (var k = 0; k < classes; k++)
                        for (var a = 0; a < 4; a++)
                            for (var m = 0; m < maxDets.Length; m++)
                            {
                                compared += Compare($"{label} recall[{t},{k},{a},{m}]", [recall[t][k][a][m].GetDouble()], [r.Recall[t, k, a, m]]);
                                double mean = 0;
                                for (var q = 0; q < 101; q++) mean += r.Precision[t, q, k, a, m];
                                compared += Compare($"{label} mean precision[{t},{k},{a},{m}]", [precisionMean[t][k][a][m].GetDouble()], [mean / 101]);
                            }
                if (e.GetProperty("precision_all").ValueKind == JsonValueKind.Array)
                {
                    var all = e.GetProperty("precision_all");
                    for (var t = 0; t < 10; t++)
                        for (var q = 0; q < 101; q++)
                            for (var k = 0; k < classes; k++)
                                compared += Compare($"{label} precision[{t},{q},{k}]", [all[t][q][k].GetDouble()], [r.Precision[t, q, k, 0, maxDets.Length - 1]]);
                }
            }

            foreach (var v in c.GetProperty("voc").EnumerateArray())
            {
                var voc = new VocEvaluator(classes, v.GetProperty("iou").GetDouble(), v.GetProperty("offset").GetDouble());
                foreach (var img in images)
                    voc.Add(Doubles(img.GetProperty("boxes")), Doubles(img.GetProperty("scores")), Longs(img.GetProperty("labels")),
                        Doubles(img.GetProperty("gt_boxes")), Longs(img.GetProperty("gt_labels")), Flags(img.GetProperty("gt_difficult")));
                var r = voc.Compute();
                var label = $"{name}/voc{v.GetProperty("iou").GetDouble()}+{v.GetProperty("offset").GetDouble()}";
                compared += Compare(label + " AP", [Num(v, "ap"), Num(v, "ap07")], [r.AP, r.AP07]);
                compared += Compare(label + " class AP", Doubles(v.GetProperty("class_ap")), r.ClassAP);
                compared += Compare(label + " class AP07", Doubles(v.GetProperty("class_ap07")), r.ClassAP07);
                Assert.Equal(v.GetProperty("positives").EnumerateArray().Select(p => p.GetInt32()), r.Positives);
            }
        }
        Assert.True(compared > 20_000, $"only {compared} numbers compared");
    }

    /// <summary>Every number within 1e-12 (sums in another order), -1 and NaN exactly.</summary>
    private static int Compare(string what, IReadOnlyList<double> expected, IReadOnlyList<double> actual)
    {
        Assert.True(expected.Count == actual.Count, $"{what}: {actual.Count} values, expected {expected.Count}");
        for (var i = 0; i < expected.Count; i++)
        {
            var ok = double.IsNaN(expected[i]) ? double.IsNaN(actual[i]) : expected[i] == -1 ? actual[i] == -1 : Math.Abs(expected[i] - actual[i]) <= 1e-12;
            Assert.True(ok, $"{what}[{i}]: {actual[i]:R}, expected {expected[i]:R}");
        }
        return expected.Count;
    }

    private static double Num(JsonElement e, string property) => JsonNumbers.Read(e.GetProperty(property)) ?? double.NaN;

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(x => JsonNumbers.Read(x) ?? double.NaN).ToArray();

    private static long[] Longs(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt64()).ToArray();

    private static bool[] Flags(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32() != 0).ToArray();

    [Fact]
    public void Voc_data_is_also_evaluated_with_the_devkits_ap_its_difficult_objects_ignored()
    {
        // Image 000005 (8 × 6): a dog at VOC (1, 2, 4, 6) = (0, 1, 4, 6) here, a difficult person. Detections: a dog
        // elsewhere (.95, a false positive), the dog (.9), the difficult person (.8, neither true nor false).
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["voc/ImageSets/Main"]);
        Directory.CreateDirectory(tmp["voc/Annotations"]);
        Directory.CreateDirectory(tmp["voc/JPEGImages"]);
        File.WriteAllText(tmp["voc/ImageSets/Main/val.txt"], "000005\n");
        File.WriteAllText(tmp["voc/Annotations/000005.xml"], "<annotation><size><width>8</width><height>6</height><depth>3</depth></size>"
            + "<object><name>dog</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>4</xmax><ymax>6</ymax></bndbox></object>"
            + "<object><name>person</name><difficult>1</difficult><bndbox><xmin>5</xmin><ymin>1</ymin><xmax>8</xmax><ymax>3</ymax></bndbox></object></annotation>");
        Distill.Data.Pnm.Write(tmp["voc/JPEGImages/000005.ppm"], new byte[3 * 6 * 8], 3, 6, 8);
        using var voc = new Distill.Data.VocDetection(tmp["voc"], split: "val");
        using var batch = voc.Collate([0]);
        using var boxes = torch.tensor(new float[] { 4, 0, 8, 2, 0, 1, 4, 6, 4, 0, 8, 3 }).reshape(3, 4);
        using var scores = torch.tensor(new float[] { 0.95f, 0.9f, 0.8f });
        using var labels = torch.tensor(new long[] { 12, 12, 15 });

        using var evaluator = DetectionEvaluation.CreateEvaluator(voc);
        DetectionEvaluation.Add(evaluator, batch, [0], _ => (boxes, scores, labels));
        var values = new Dictionary<string, double>();
        DetectionEvaluation.WriteTo(evaluator, values, "val_");
        // Dog: FP then TP, precision 1/2 at recall 1 -> 0.5 under both interpolations; the person class has only a
        // difficult object, so it is left out of the mean.
        Assert.Equal(0.5, values["val_VOC07_AP50"], 12);
        Assert.Equal(0.5, values["val_VOC_AP50"], 12);
        Assert.True(values.ContainsKey("val_AP50"));
        Assert.DoesNotContain(values.Keys, k => k.StartsWith("val_VOC_AP50_", StringComparison.Ordinal));

        // Other data: COCO's metrics only.
        using var synthetic = new Distill.Data.SyntheticDetection(classes: 2, samples: 4, size: 64, seed: 1);
        using var plain = DetectionEvaluation.CreateEvaluator(synthetic);
        Assert.Null(plain.Voc);
    }
}
