namespace Distill.Torch;

public static partial class torch
{
    public static partial class optim
    {
        /// <summary>PyTorch's <c>torch.optim.lr_scheduler</c>: factories for the schedulers (see <see cref="LRScheduler"/>).</summary>
        public static class lr_scheduler
        {
            public static StepLR StepLR(Optimizer optimizer, int step_size, double gamma = 0.1, int last_epoch = -1) =>
                new(optimizer, step_size, gamma, last_epoch);

            public static MultiStepLR MultiStepLR(Optimizer optimizer, IEnumerable<int> milestones, double gamma = 0.1, int last_epoch = -1) =>
                new(optimizer, milestones, gamma, last_epoch);

            public static ExponentialLR ExponentialLR(Optimizer optimizer, double gamma, int last_epoch = -1) =>
                new(optimizer, gamma, last_epoch);

            public static ConstantLR ConstantLR(Optimizer optimizer, double factor = 1.0 / 3, int total_iters = 5, int last_epoch = -1) =>
                new(optimizer, factor, total_iters, last_epoch);

            public static LinearLR LinearLR(Optimizer optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int total_iters = 5, int last_epoch = -1) =>
                new(optimizer, start_factor, end_factor, total_iters, last_epoch);

            public static PolynomialLR PolynomialLR(Optimizer optimizer, int total_iters = 5, double power = 1.0, int last_epoch = -1) =>
                new(optimizer, total_iters, power, last_epoch);

            public static CosineAnnealingLR CosineAnnealingLR(Optimizer optimizer, int T_max, double eta_min = 0, int last_epoch = -1) =>
                new(optimizer, T_max, eta_min, last_epoch);

            public static LambdaLR LambdaLR(Optimizer optimizer, Func<int, double> lr_lambda, int last_epoch = -1) =>
                new(optimizer, lr_lambda, last_epoch);

            public static LambdaLR LambdaLR(Optimizer optimizer, IReadOnlyList<Func<int, double>> lr_lambdas, int last_epoch = -1) =>
                new(optimizer, lr_lambdas, last_epoch);

            public static SequentialLR SequentialLR(Optimizer optimizer, IReadOnlyList<LRScheduler> schedulers, IReadOnlyList<int> milestones, int last_epoch = -1) =>
                new(optimizer, schedulers, milestones, last_epoch);
        }
    }
}
