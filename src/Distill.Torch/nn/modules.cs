using Distill.Torch.Modules;

namespace Distill.Torch;

public static partial class torch
{
    /// <summary>
    /// <c>torch.nn</c>: factories for the layers of <see cref="Distill.Torch.Modules"/> with PyTorch's
    /// arguments (<c>torch.nn.Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false)</c>), plus
    /// <see cref="functional"/> and <see cref="init"/>.
    /// </summary>
    public static partial class nn
    {
        public static Modules.Parameter Parameter(Tensor data, bool requires_grad = true) => new(data, requires_grad);

        public static Modules.Linear Linear(long in_features, long out_features, bool bias = true, Device? device = null, ScalarType? dtype = null) =>
            new(in_features, out_features, bias, device, dtype);

        public static Modules.Conv2d Conv2d(long in_channels, long out_channels, IntOrTuple kernel_size, IntOrTuple? stride = null,
            IntOrTuple? padding = null, IntOrTuple? dilation = null, long groups = 1, bool bias = true, string padding_mode = "zeros",
            Device? device = null, ScalarType? dtype = null) =>
            new(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, device, dtype);

        public static Modules.ConvTranspose2d ConvTranspose2d(long in_channels, long out_channels, IntOrTuple kernel_size, IntOrTuple? stride = null,
            IntOrTuple? padding = null, IntOrTuple? output_padding = null, long groups = 1, bool bias = true, IntOrTuple? dilation = null,
            string padding_mode = "zeros", Device? device = null, ScalarType? dtype = null) =>
            new(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias, dilation, padding_mode, device, dtype);

        public static Modules.BatchNorm1d BatchNorm1d(long num_features, double eps = 1e-5, double? momentum = 0.1, bool affine = true,
            bool track_running_stats = true, Device? device = null, ScalarType? dtype = null) =>
            new(num_features, eps, momentum, affine, track_running_stats, device, dtype);

        public static Modules.BatchNorm2d BatchNorm2d(long num_features, double eps = 1e-5, double? momentum = 0.1, bool affine = true,
            bool track_running_stats = true, Device? device = null, ScalarType? dtype = null) =>
            new(num_features, eps, momentum, affine, track_running_stats, device, dtype);

        public static Modules.LayerNorm LayerNorm(IntOrTuple normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
            Device? device = null, ScalarType? dtype = null) =>
            new(normalized_shape, eps, elementwise_affine, device, dtype);

        public static Modules.GroupNorm GroupNorm(long num_groups, long num_channels, double eps = 1e-5, bool affine = true,
            Device? device = null, ScalarType? dtype = null) =>
            new(num_groups, num_channels, eps, affine, device, dtype);

        public static Modules.Embedding Embedding(long num_embeddings, long embedding_dim, long? padding_idx = null, double? max_norm = null,
            double norm_type = 2.0, bool scale_grad_by_freq = false, bool sparse = false, Device? device = null, ScalarType? dtype = null) =>
            new(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse, device, dtype);

        public static Modules.ReLU ReLU(bool inplace = false) => new(inplace);
        public static Modules.LeakyReLU LeakyReLU(double negative_slope = 0.01, bool inplace = false) => new(negative_slope, inplace);
        public static Modules.PReLU PReLU(long num_parameters = 1, double init = 0.25, Device? device = null, ScalarType? dtype = null) => new(num_parameters, init, device, dtype);
        public static Modules.GELU GELU(string approximate = "none") => new(approximate);
        public static Modules.SiLU SiLU(bool inplace = false) => new(inplace);
        public static Modules.Sigmoid Sigmoid() => new();
        public static Modules.Tanh Tanh() => new();
        public static Modules.Softmax Softmax(long dim) => new(dim);
        public static Modules.LogSoftmax LogSoftmax(long dim) => new(dim);
        public static Modules.Dropout Dropout(double p = 0.5, bool inplace = false) => new(p, inplace);
        public static Modules.Identity Identity() => new();
        public static Modules.Flatten Flatten(long start_dim = 1, long end_dim = -1) => new(start_dim, end_dim);

        public static Modules.MaxPool2d MaxPool2d(IntOrTuple kernel_size, IntOrTuple? stride = null, IntOrTuple? padding = null,
            IntOrTuple? dilation = null, bool ceil_mode = false) =>
            new(kernel_size, stride, padding, dilation, ceil_mode);

        public static Modules.AvgPool2d AvgPool2d(IntOrTuple kernel_size, IntOrTuple? stride = null, IntOrTuple? padding = null,
            bool ceil_mode = false, bool count_include_pad = true, long? divisor_override = null) =>
            new(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override);

        public static Modules.AdaptiveAvgPool2d AdaptiveAvgPool2d(IntOrTuple output_size) => new(output_size);
        public static Modules.AdaptiveMaxPool2d AdaptiveMaxPool2d(IntOrTuple output_size) => new(output_size);

        public static Modules.Sequential Sequential() => new();
        public static Modules.Sequential Sequential(params Module<Tensor, Tensor>[] modules) => new(modules);
        public static Modules.Sequential Sequential(params (string name, Module<Tensor, Tensor> module)[] modules) => new(modules);
        public static ModuleList<Module> ModuleList(params Module[] modules) => new(modules);
        public static ModuleList<T> ModuleList<T>(params T[] modules) where T : Module => new(modules);
        public static ModuleDict<Module> ModuleDict(params (string name, Module module)[] modules) => new(modules);
        public static ModuleDict<T> ModuleDict<T>(params (string name, T module)[] modules) where T : Module => new(modules);

        public static Modules.CrossEntropyLoss CrossEntropyLoss(Tensor? weight = null, long ignore_index = -100, string reduction = "mean",
            double label_smoothing = 0.0) => new(weight, ignore_index, reduction, label_smoothing);
        public static Modules.NLLLoss NLLLoss(Tensor? weight = null, long ignore_index = -100, string reduction = "mean") =>
            new(weight, ignore_index, reduction);
        public static Modules.KLDivLoss KLDivLoss(string reduction = "mean", bool log_target = false) => new(reduction, log_target);
        public static Modules.MSELoss MSELoss(string reduction = "mean") => new(reduction);
        public static Modules.L1Loss L1Loss(string reduction = "mean") => new(reduction);
        public static Modules.SmoothL1Loss SmoothL1Loss(string reduction = "mean", double beta = 1.0) => new(reduction, beta);
        public static Modules.BCEWithLogitsLoss BCEWithLogitsLoss(Tensor? weight = null, string reduction = "mean", Tensor? pos_weight = null) =>
            new(weight, reduction, pos_weight);
    }
}
