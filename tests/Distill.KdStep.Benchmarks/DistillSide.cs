using System.Diagnostics;
using Distill.Data;
using Distill.Experiments.Generated;
using Distill.Runtime;
using Distill.Torch;
using Distill.Torch.Modules;

namespace Distill.Experiments.Generated
{
    partial class KdStepBenchExperiment
    {
        /// <summary>
        /// The generated optimizer (SGD over the student, as declared in kd-step.distill.yaml). The generator
        /// emits <c>CreateOptimizer</c> as a private member of the partial class, for its own loop; this part of the
        /// class hands it to the benchmark, which drives the same step without the rest of <c>Train</c>.
        /// </summary>
        internal Distill.Torch.Optimizer NewOptimizer() => CreateOptimizer(new TrainOptions());
    }
}

namespace Distill.KdStep.Benchmarks
{
    /// <summary>
    /// The Distill side: the generated experiment's training step, driven either by pre-made batches or by the
    /// data loader the generated <c>Train</c> builds (SyntheticImages rendered on demand, random crop + flip +
    /// normalise, prepared on a background thread).
    /// </summary>
    internal sealed class DistillSide : IDisposable
    {
        private readonly KdStepBenchExperiment _experiment;
        private readonly Optimizer _optimizer;
        private readonly DivergenceGuard _guard;
        private readonly LossAverages _averages;
        private readonly Tensor _image;
        private readonly Tensor _label;
        private readonly DataLoader<ImageBatch> _loader;
        private int _epoch;
        private long _nextBatch;
        private long _step;

        private readonly bool _onGpu;
        private readonly int _gpu;

        public DistillSide(MemoryFormat memoryFormat = MemoryFormat.Contiguous, Device? device = null)
        {
            torch.manual_seed(0);
            var on = device ?? Device.CPU;
            _onGpu = on.Type == DeviceType.CUDA;
            _gpu = on.Index;
            _experiment = new KdStepBenchExperiment();
            // What the generated Train does before its first step: the teacher in evaluation mode (LoadWeights;
            // this benchmark keeps its random weights), the student training; with memory_format: channels_last, both
            // models' 4-D weights and the batches in channels_last.
            _experiment.Teacher.eval();
            _experiment.Student.train();
            if (_onGpu)
            {
                _experiment.Teacher.to(on);
                _experiment.Student.to(on);
            }
            if (memoryFormat != MemoryFormat.Contiguous)
            {
                _experiment.Teacher.to(memoryFormat);
                _experiment.Student.to(memoryFormat);
            }
            _optimizer = _experiment.NewOptimizer();
            _guard = new DivergenceGuard(["ce", "kd"]);
            _averages = new LossAverages([LossAverages.TotalName, "ce", "kd"]);

            var data = _experiment.TrainData;
            BatchSize = KdStepBenchExperiment.DeclaredBatchSize;
            ImageSize = data.Height;
            Classes = data.Classes;
            // The pre-made batch: normalised-looking values, as the PyTorch side uses (randn).
            _image = torch.randn([BatchSize, data.Channels, data.Height, data.Width]).to(on).contiguous(memoryFormat).DetachFromDisposeScope();
            _label = torch.randint(0, data.Classes, [BatchSize]).to(on).DetachFromDisposeScope();
            // The loader exactly as the generated Train builds its training loader (seed from the run's seed 0).
            _loader = new DataLoader<ImageBatch>(data,
                new DataLoaderOptions { BatchSize = BatchSize, Seed = new TrainOptions().SeedFor("loader"), DropLast = true, Device = on },
                ImageTransform.Train(data.Normalization));

        }

        public int BatchSize { get; }
        public int ImageSize { get; }
        public int Classes { get; }
        public int LoaderPrefetch => _loader.Options.Prefetch;

        /// <summary>The total loss of the latest step (read by the divergence guard, which checks every step).</summary>
        public double LastLoss => _guard.LastFinite("total") ?? double.NaN;

        /// <summary>
        /// One step, written as the generated <c>Train</c> loop writes it (TrainEmitter): zero_grad, the generated
        /// fused <c>ComputeLoss</c>, backward, the optimizer step, then the loop's per-step bookkeeping (the
        /// divergence guard, which by default reads the losses back every step, and the running loss averages).
        /// The experiment declares no gradient clipping, so the generated loop clips nothing either.
        /// </summary>
        private void Step(Tensor image, Tensor label, long count)
        {
            using (torch.NewDisposeScope())
            {
                _optimizer.zero_grad();
                using var loss = _experiment.ComputeLoss(image, label, 0.0);
                loss.Total.backward();
                _optimizer.step();
                _step++;
                _guard.Observe(loss.Total, [loss.Ce, loss.Kd], 1, _step);
                _averages.Add(LossAverages.TotalName, loss.Total, count);
                _averages.Add("ce", loss.Ce, count);
                _averages.Add("kd", loss.Kd, count);
            }
            // A GPU step is done when its kernels are: time that, as the PyTorch side does.
            if (_onGpu) torch.cuda.synchronize(_gpu);
        }

        /// <summary>Seconds of each of <paramref name="steps"/> steps on the same pre-made batch.</summary>
        public List<double> PreMade(int steps)
        {
            var times = new List<double>(steps);
            for (var i = 0; i < steps; i++)
            {
                var start = Stopwatch.GetTimestamp();
                Step(_image, _label, BatchSize);
                times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
            return times;
        }

        public sealed record LoaderBlock(List<double> Seconds, double WaitSeconds, double PrepareSeconds, int Batches);

        /// <summary>
        /// <paramref name="steps"/> steps fed by the data loader, continuing where the previous block stopped (epochs
        /// roll over). Each block opens its own epoch enumeration and closes it at the end, so the block pays for
        /// everything the loader does for it (the first batch is prepared while the step waits) and nothing is
        /// prepared for it in the background while other blocks run. A step's time runs from asking for its batch
        /// to the end of its bookkeeping, and the enumeration's wait and preparation times come back with it.
        /// Closing the enumeration discards the (at most Prefetch) batches prepared ahead; the next block prepares
        /// them again, so this errs against the loader: a training run keeps one enumeration for a whole epoch.
        /// </summary>
        public LoaderBlock WithLoader(int steps)
        {
            var times = new List<double>(steps);
            double wait = 0, prepare = 0;
            while (times.Count < steps)
            {
                if (_nextBatch >= _loader.BatchesPerEpoch)
                {
                    _epoch++;
                    _nextBatch = 0;
                }
                var epoch = _loader.Epoch(_epoch, _nextBatch);
                using (var batches = epoch.GetEnumerator())
                {
                    while (times.Count < steps)
                    {
                        var start = Stopwatch.GetTimestamp();
                        if (!batches.MoveNext()) break;
                        using (var batch = batches.Current)
                        {
                            Step(batch.image, batch.label, batch.Count);
                        }
                        _nextBatch++;
                        times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
                    }
                }
                wait += epoch.WaitTime.TotalSeconds;
                prepare += epoch.PrepareTime.TotalSeconds;
            }
            return new LoaderBlock(times, wait, prepare, steps);
        }

        /// <summary>The phases <see cref="Parts"/> times, in order (the PyTorch side reports the same names).</summary>
        public static readonly string[] PartNames = ["zero_grad", "teacher forward", "student forward", "losses", "backward", "optimizer step", "bookkeeping"];

        /// <summary>
        /// One step on the pre-made batch, timed phase by phase (seconds, in <see cref="PartNames"/> order), to show
        /// where a step's time goes. ComputeLoss is one generated method, so this repeats its calls in the same
        /// order (the teacher's forward under no_grad, the student's, then the shared log-softmaxes and the two
        /// terms from Distill.Losses): a copy of the generated body for the breakdown only; the headline numbers
        /// call the generated method itself.
        /// </summary>
        public double[] Parts()
        {
            var t = new double[PartNames.Length];
            var clock = Stopwatch.GetTimestamp();
            void Mark(int phase)
            {
                if (_onGpu) torch.cuda.synchronize(_gpu);
                var now = Stopwatch.GetTimestamp();
                t[phase] = Stopwatch.GetElapsedTime(clock, now).TotalSeconds;
                clock = now;
            }
            using (torch.NewDisposeScope())
            {
                _optimizer.zero_grad();
                Mark(0);
                Tensor teacherLogits;
                using (torch.no_grad())
                    teacherLogits = _experiment.Teacher.forward_taps(_image, Models.CifarResNet.Taps.Logits).Logits!;
                Mark(1);
                var studentLogits = _experiment.Student.forward_taps(_image, Models.CifarResNet.Taps.Logits).Logits!;
                Mark(2);
                var logProbs1 = Losses.Classic.log_softmax_t(studentLogits, 1.0);
                var ce = Losses.Classic.cross_entropy_shared(input_log_probs: logProbs1, target: _label);
                logProbs1.Dispose();
                var studentLogProbs4 = Losses.Classic.log_softmax_t(studentLogits, 4.0);
                studentLogits.Dispose();
                var teacherLogProbs4 = Losses.Classic.log_softmax_t(teacherLogits, 4.0);
                teacherLogits.Dispose();
                var kd = Losses.Classic.hinton_kd_shared(student_log_probs: studentLogProbs4, teacher_log_probs: teacherLogProbs4, temperature: 4.0);
                studentLogProbs4.Dispose();
                teacherLogProbs4.Dispose();
                var total = ce * 0.1;
                total.add_(kd, 0.9);
                Mark(3);
                total.backward();
                Mark(4);
                _optimizer.step();
                Mark(5);
                _step++;
                _guard.Observe(total, [ce.detach(), kd.detach()], 1, _step);
                _averages.Add(LossAverages.TotalName, total, BatchSize);
                _averages.Add("ce", ce, BatchSize);
                _averages.Add("kd", kd, BatchSize);
                Mark(6);
            }
            return t;
        }

        /// <summary>
        /// Seconds to prepare each of <paramref name="batches"/> batches on this thread with nothing else running
        /// (render, collate, crop + flip + normalise): the loader's work per batch, which the background thread
        /// does while a step trains.
        /// </summary>
        public List<double> PrepareAlone(int batches)
        {
            var times = new List<double>(batches);
            for (var b = 0; b < batches; b++)
            {
                var start = Stopwatch.GetTimestamp();
                using var batch = _loader.GetBatch(0, b % _loader.BatchesPerEpoch);
                times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
            return times;
        }

        public void Dispose()
        {
            _guard.Flush();
            _guard.Dispose();
            _averages.Reset();
            _optimizer.Dispose();
            _image.Dispose();
            _label.Dispose();
            _experiment.DisposeModules();
        }
    }
}
