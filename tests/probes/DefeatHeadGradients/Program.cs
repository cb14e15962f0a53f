// Where does defeat-feature-head's RoI-head KD term push the student's shared box head (fc6, fc7), compared with the
// detector's own box-regression and classification losses? Gradient norms per term at the trained student (seed 1, epoch 8)
// and at the DeFeat-features student (no head term) on the first 4 training batches (the defeat-det suite's investigation
// of the head row; see experiments/defeat-det/suite.yaml).
//   dotnet run -c Release --project tests/probes/DefeatHeadGradients -- <runs root> <head run> <features run>
// e.g. -- runs defeat-feature-head/s1 defeat-feature/20261207-120211
using Distill.Data;
using Distill.Experiments.Generated;
using Distill.Runtime;
using Distill.Torch;

torch.set_num_threads(1);
var root = args.Length > 0 ? args[0] : "runs";
var headRun = args.Length > 1 ? args[1] : "defeat-feature-head/s1";
var featuresRun = args.Length > 2 ? args[2] : "defeat-feature/s1";
var teacherRun = Path.Combine(root, "teacher-frcnn/s1/checkpoints/best.json");
foreach (var (label, run) in new[] { ("with head KD", Path.Combine(root, headRun, "checkpoints/latest.json")), ("DeFeat features only", Path.Combine(root, featuresRun, "checkpoints/latest.json")) })
{
    var e = new DefeatFeatureHeadExperiment();
    Checkpoint.LoadModule(teacherRun, "student", e.Teacher);
    e.Teacher.eval();
    Checkpoint.LoadModule(run, "student", e.Student);
    foreach (var (name, a) in new[] { ("a2", e.A2Adapter), ("a3", e.A3Adapter), ("a4", e.A4Adapter), ("a5", e.A5Adapter), ("a6", e.A6Adapter) })
        Checkpoint.LoadModule(run, name, a);
    e.Student.train();
    var shared = e.Student.named_parameters().Where(kv => kv.Item1.StartsWith("roi_heads.box_head.")).Select(kv => kv.Item2).ToArray();
    var loader = new DataLoader<DetectionBatch>(e.TrainData, new DataLoaderOptions { BatchSize = 8, Shuffle = false }, null);
    var sums = new Dictionary<string, double>();
    var n = 0;
    foreach (var batch in loader.Epoch(0))
    {
        using (batch)
        using (torch.NewDisposeScope())
        {
            foreach (var term in new[] { "roi_box", "roi_cls", "head", "defeat" })
            {
                foreach (var p in e.Student.parameters()) p.grad = null;
                using var l = e.ComputeLoss(batch.image, batch.image_size, batch.boxes, batch.labels, batch.crowd, batch.hard, batch.image_id, 8.0);
                var t = term switch { "roi_box" => l.RoiBox, "roi_cls" => l.RoiCls, "head" => l.Head, _ => l.Defeat };
                // the term's own value carries no graph (detached): recompute through Total with the other weights at 0
                e.Settings.RpnObjectnessWeight = 0; e.Settings.RpnBoxWeight = 0;
                e.Settings.RoiClsWeight = term == "roi_cls" ? 1 : 0; e.Settings.RoiBoxWeight = term == "roi_box" ? 1 : 0;
                e.Settings.HeadWeight = term == "head" ? 1 : 0; e.Settings.DefeatWeight = term == "defeat" ? 1 : 0;
                using var only = e.ComputeLoss(batch.image, batch.image_size, batch.boxes, batch.labels, batch.crowd, batch.hard, batch.image_id, 8.0);
                only.Total.backward();
                var g = Math.Sqrt(shared.Where(p => p.grad is not null).Sum(p => p.grad!.pow(2).sum().item<float>()));
                sums[term] = sums.GetValueOrDefault(term) + g;
                sums[term + "_value"] = sums.GetValueOrDefault(term + "_value") + t.item<float>();
            }
        }
        if (++n == 4) break;
    }
    Console.WriteLine($"{label}: " + string.Join(", ", sums.Select(kv => $"{kv.Key} {kv.Value / n:0.0000}")));
    e.DisposeModules();
}
