"""The official RT-DETR (lyuwenyu/RT-DETR rtdetr_pytorch, r18vd) at miniature widths: its module classes (namespace
`official`, upstream names) and build_rtdetr_official, the model tools/export_onnx.py exports."""

import copy
import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import IMGSZ, NC, calibrate_bn, seed_all


# ======================================================================================================
# Official RT-DETR, lyuwenyu/RT-DETR rtdetr_pytorch (src/nn/backbone/presnet.py, src/zoo/rtdetr/*.py,
# tools/export_onnx.py), r18vd config
# ======================================================================================================
def get_activation(act, inpace=True):
    act = act.lower()
    m = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU}[act]()
    if hasattr(m, "inplace"):
        m.inplace = inpace
    return m


class official:  # namespace: rtdetr_pytorch's own module classes (upstream names)
    class ConvNormLayer(nn.Module):
        def __init__(self, ch_in, ch_out, kernel_size, stride, padding=None, bias=False, act=None):
            super().__init__()
            self.conv = nn.Conv2d(ch_in, ch_out, kernel_size, stride,
                                  padding=(kernel_size - 1) // 2 if padding is None else padding, bias=bias)
            self.norm = nn.BatchNorm2d(ch_out)
            self.act = nn.Identity() if act is None else get_activation(act)

        def forward(self, x):
            return self.act(self.norm(self.conv(x)))

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, ch_in, ch_out, stride, shortcut, act="relu", variant="b"):
            super().__init__()
            self.shortcut = shortcut
            if not shortcut:
                if variant == "d" and stride == 2:
                    self.short = nn.Sequential(OrderedDict([
                        ("pool", nn.AvgPool2d(2, 2, 0, ceil_mode=True)),
                        ("conv", official.ConvNormLayer(ch_in, ch_out, 1, 1)),
                    ]))
                else:
                    self.short = official.ConvNormLayer(ch_in, ch_out, 1, stride)
            self.branch2a = official.ConvNormLayer(ch_in, ch_out, 3, stride, act=act)
            self.branch2b = official.ConvNormLayer(ch_out, ch_out, 3, 1, act=None)
            self.act = nn.Identity() if act is None else get_activation(act)

        def forward(self, x):
            out = self.branch2a(x)
            out = self.branch2b(out)
            short = x if self.shortcut else self.short(x)
            out = out + short
            out = self.act(out)
            return out

    class Blocks(nn.Module):
        def __init__(self, block, ch_in, ch_out, count, stage_num, act="relu", variant="b"):
            super().__init__()
            self.blocks = nn.ModuleList()
            for i in range(count):
                self.blocks.append(block(ch_in, ch_out, stride=2 if i == 0 and stage_num != 2 else 1,
                                         shortcut=False if i == 0 else True, variant=variant, act=act))
                if i == 0:
                    ch_in = ch_out * block.expansion

        def forward(self, x):
            out = x
            for block in self.blocks:
                out = block(out)
            return out

    class PResNet(nn.Module):
        def __init__(self, depth=18, variant="d", num_stages=4, return_idx=(1, 2, 3), act="relu",
                     ch_in=8, ch_out_list=(8, 12, 16, 24)):  # upstream: ch_in 64, [64, 128, 256, 512]
            super().__init__()
            block_nums = {18: [2, 2, 2, 2]}[depth]
            conv_def = [
                [3, ch_in // 2, 3, 2, "conv1_1"],
                [ch_in // 2, ch_in // 2, 3, 1, "conv1_2"],
                [ch_in // 2, ch_in, 3, 1, "conv1_3"],
            ]
            self.conv1 = nn.Sequential(OrderedDict([
                (_name, official.ConvNormLayer(c_in, c_out, k, s, act=act)) for c_in, c_out, k, s, _name in conv_def
            ]))
            block = official.BasicBlock
            _out_channels = [block.expansion * v for v in ch_out_list]
            self.res_layers = nn.ModuleList()
            for i in range(num_stages):
                stage_num = i + 2
                self.res_layers.append(
                    official.Blocks(block, ch_in, ch_out_list[i], block_nums[i], stage_num, act=act, variant=variant)
                )
                ch_in = _out_channels[i]
            self.return_idx = list(return_idx)
            self.out_channels = [_out_channels[_i] for _i in return_idx]

        def forward(self, x):
            conv1 = self.conv1(x)
            x = F.max_pool2d(conv1, kernel_size=3, stride=2, padding=1)
            outs = []
            for idx, stage in enumerate(self.res_layers):
                x = stage(x)
                if idx in self.return_idx:
                    outs.append(x)
            return outs

    class RepVggBlock(nn.Module):
        def __init__(self, ch_in, ch_out, act="relu"):
            super().__init__()
            self.ch_in = ch_in
            self.ch_out = ch_out
            self.conv1 = official.ConvNormLayer(ch_in, ch_out, 3, 1, padding=1, act=None)
            self.conv2 = official.ConvNormLayer(ch_in, ch_out, 1, 1, padding=0, act=None)
            self.act = nn.Identity() if act is None else get_activation(act)

        def forward(self, x):
            if hasattr(self, "conv"):
                y = self.conv(x)
            else:
                y = self.conv1(x) + self.conv2(x)
            return self.act(y)

        def convert_to_deploy(self):
            if not hasattr(self, "conv"):
                self.conv = nn.Conv2d(self.ch_in, self.ch_out, 3, 1, padding=1)
            kernel, bias = self.get_equivalent_kernel_bias()
            self.conv.weight.data = kernel
            self.conv.bias.data = bias

        def get_equivalent_kernel_bias(self):
            kernel3x3, bias3x3 = self._fuse_bn_tensor(self.conv1)
            kernel1x1, bias1x1 = self._fuse_bn_tensor(self.conv2)
            return kernel3x3 + F.pad(kernel1x1, [1, 1, 1, 1]), bias3x3 + bias1x1

        @staticmethod
        def _fuse_bn_tensor(branch):
            kernel = branch.conv.weight
            running_mean, running_var = branch.norm.running_mean, branch.norm.running_var
            gamma, beta, eps = branch.norm.weight, branch.norm.bias, branch.norm.eps
            std = (running_var + eps).sqrt()
            t = (gamma / std).reshape(-1, 1, 1, 1)
            return kernel * t, beta - running_mean * gamma / std

    class CSPRepLayer(nn.Module):
        def __init__(self, in_channels, out_channels, num_blocks=3, expansion=1.0, bias=None, act="silu"):
            super().__init__()
            hidden_channels = int(out_channels * expansion)
            self.conv1 = official.ConvNormLayer(in_channels, hidden_channels, 1, 1, bias=bias, act=act)
            self.conv2 = official.ConvNormLayer(in_channels, hidden_channels, 1, 1, bias=bias, act=act)
            self.bottlenecks = nn.Sequential(
                *[official.RepVggBlock(hidden_channels, hidden_channels, act=act) for _ in range(num_blocks)]
            )
            if hidden_channels != out_channels:
                self.conv3 = official.ConvNormLayer(hidden_channels, out_channels, 1, 1, bias=bias, act=act)
            else:
                self.conv3 = nn.Identity()

        def forward(self, x):
            x_1 = self.conv1(x)
            x_1 = self.bottlenecks(x_1)
            x_2 = self.conv2(x)
            return self.conv3(x_1 + x_2)

    class TransformerEncoderLayer(nn.Module):
        def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                     normalize_before=False):
            super().__init__()
            self.normalize_before = normalize_before
            self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout, batch_first=True)
            self.linear1 = nn.Linear(d_model, dim_feedforward)
            self.dropout = nn.Dropout(dropout)
            self.linear2 = nn.Linear(dim_feedforward, d_model)
            self.norm1 = nn.LayerNorm(d_model)
            self.norm2 = nn.LayerNorm(d_model)
            self.dropout1 = nn.Dropout(dropout)
            self.dropout2 = nn.Dropout(dropout)
            self.activation = get_activation(activation)

        @staticmethod
        def with_pos_embed(tensor, pos_embed):
            return tensor if pos_embed is None else tensor + pos_embed

        def forward(self, src, src_mask=None, pos_embed=None):
            residual = src
            if self.normalize_before:
                src = self.norm1(src)
            q = k = self.with_pos_embed(src, pos_embed)
            src, _ = self.self_attn(q, k, value=src, attn_mask=src_mask)
            src = residual + self.dropout1(src)
            if not self.normalize_before:
                src = self.norm1(src)
            residual = src
            if self.normalize_before:
                src = self.norm2(src)
            src = self.linear2(self.dropout(self.activation(self.linear1(src))))
            src = residual + self.dropout2(src)
            if not self.normalize_before:
                src = self.norm2(src)
            return src

    class TransformerEncoder(nn.Module):
        def __init__(self, encoder_layer, num_layers, norm=None):
            super().__init__()
            self.layers = nn.ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
            self.num_layers = num_layers
            self.norm = norm

        def forward(self, src, src_mask=None, pos_embed=None):
            output = src
            for layer in self.layers:
                output = layer(output, src_mask=src_mask, pos_embed=pos_embed)
            if self.norm is not None:
                output = self.norm(output)
            return output

    class HybridEncoder(nn.Module):
        def __init__(self, in_channels=(512, 1024, 2048), feat_strides=(8, 16, 32), hidden_dim=256, nhead=8,
                     dim_feedforward=1024, dropout=0.0, enc_act="gelu", use_encoder_idx=(2,), num_encoder_layers=1,
                     pe_temperature=10000, expansion=1.0, depth_mult=1.0, act="silu", eval_spatial_size=None):
            super().__init__()
            self.in_channels = list(in_channels)
            self.feat_strides = list(feat_strides)
            self.hidden_dim = hidden_dim
            self.use_encoder_idx = list(use_encoder_idx)
            self.num_encoder_layers = num_encoder_layers
            self.pe_temperature = pe_temperature
            self.eval_spatial_size = eval_spatial_size
            self.out_channels = [hidden_dim for _ in range(len(in_channels))]
            self.out_strides = feat_strides
            self.input_proj = nn.ModuleList()
            for in_channel in in_channels:
                self.input_proj.append(
                    nn.Sequential(nn.Conv2d(in_channel, hidden_dim, kernel_size=1, bias=False),
                                  nn.BatchNorm2d(hidden_dim))
                )
            encoder_layer = official.TransformerEncoderLayer(
                hidden_dim, nhead=nhead, dim_feedforward=dim_feedforward, dropout=dropout, activation=enc_act
            )
            self.encoder = nn.ModuleList([
                official.TransformerEncoder(copy.deepcopy(encoder_layer), num_encoder_layers)
                for _ in range(len(use_encoder_idx))
            ])
            self.lateral_convs = nn.ModuleList()
            self.fpn_blocks = nn.ModuleList()
            for _ in range(len(in_channels) - 1, 0, -1):
                self.lateral_convs.append(official.ConvNormLayer(hidden_dim, hidden_dim, 1, 1, act=act))
                self.fpn_blocks.append(
                    official.CSPRepLayer(hidden_dim * 2, hidden_dim, round(3 * depth_mult), act=act,
                                         expansion=expansion)
                )
            self.downsample_convs = nn.ModuleList()
            self.pan_blocks = nn.ModuleList()
            for _ in range(len(in_channels) - 1):
                self.downsample_convs.append(official.ConvNormLayer(hidden_dim, hidden_dim, 3, 2, act=act))
                self.pan_blocks.append(
                    official.CSPRepLayer(hidden_dim * 2, hidden_dim, round(3 * depth_mult), act=act,
                                         expansion=expansion)
                )
            self._reset_parameters()

        def _reset_parameters(self):
            if self.eval_spatial_size:
                for idx in self.use_encoder_idx:
                    stride = self.feat_strides[idx]
                    pos_embed = self.build_2d_sincos_position_embedding(
                        self.eval_spatial_size[1] // stride, self.eval_spatial_size[0] // stride,
                        self.hidden_dim, self.pe_temperature)
                    setattr(self, f"pos_embed{idx}", pos_embed)

        @staticmethod
        def build_2d_sincos_position_embedding(w, h, embed_dim=256, temperature=10000.0):
            grid_w = torch.arange(int(w), dtype=torch.float32)
            grid_h = torch.arange(int(h), dtype=torch.float32)
            grid_w, grid_h = torch.meshgrid(grid_w, grid_h, indexing="ij")
            assert embed_dim % 4 == 0
            pos_dim = embed_dim // 4
            omega = torch.arange(pos_dim, dtype=torch.float32) / pos_dim
            omega = 1.0 / (temperature**omega)
            out_w = grid_w.flatten()[..., None] @ omega[None]
            out_h = grid_h.flatten()[..., None] @ omega[None]
            return torch.concat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)[None, :, :]

        def forward(self, feats):
            assert len(feats) == len(self.in_channels)
            proj_feats = [self.input_proj[i](feat) for i, feat in enumerate(feats)]
            if self.num_encoder_layers > 0:
                for i, enc_ind in enumerate(self.use_encoder_idx):
                    h, w = proj_feats[enc_ind].shape[2:]
                    src_flatten = proj_feats[enc_ind].flatten(2).permute(0, 2, 1)
                    if self.training or self.eval_spatial_size is None:
                        pos_embed = self.build_2d_sincos_position_embedding(
                            w, h, self.hidden_dim, self.pe_temperature).to(src_flatten.device)
                    else:
                        pos_embed = getattr(self, f"pos_embed{enc_ind}", None).to(src_flatten.device)
                    memory = self.encoder[i](src_flatten, pos_embed=pos_embed)
                    proj_feats[enc_ind] = memory.permute(0, 2, 1).reshape(-1, self.hidden_dim, h, w).contiguous()
            inner_outs = [proj_feats[-1]]
            for idx in range(len(self.in_channels) - 1, 0, -1):
                feat_high = inner_outs[0]
                feat_low = proj_feats[idx - 1]
                feat_high = self.lateral_convs[len(self.in_channels) - 1 - idx](feat_high)
                inner_outs[0] = feat_high
                upsample_feat = F.interpolate(feat_high, scale_factor=2.0, mode="nearest")
                inner_out = self.fpn_blocks[len(self.in_channels) - 1 - idx](
                    torch.concat([upsample_feat, feat_low], dim=1))
                inner_outs.insert(0, inner_out)
            outs = [inner_outs[0]]
            for idx in range(len(self.in_channels) - 1):
                feat_low = outs[-1]
                feat_high = inner_outs[idx + 1]
                downsample_feat = self.downsample_convs[idx](feat_low)
                out = self.pan_blocks[idx](torch.concat([downsample_feat, feat_high], dim=1))
                outs.append(out)
            return outs

    class MLP(nn.Module):
        def __init__(self, input_dim, hidden_dim, output_dim, num_layers, act="relu"):
            super().__init__()
            self.num_layers = num_layers
            h = [hidden_dim] * (num_layers - 1)
            self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim] + h, h + [output_dim]))
            self.act = nn.Identity() if act is None else get_activation(act)

        def forward(self, x):
            for i, layer in enumerate(self.layers):
                x = self.act(layer(x)) if i < self.num_layers - 1 else layer(x)
            return x

    class MSDeformableAttention(nn.Module):
        def __init__(self, embed_dim=256, num_heads=8, num_levels=4, num_points=4):
            super().__init__()
            self.embed_dim = embed_dim
            self.num_heads = num_heads
            self.num_levels = num_levels
            self.num_points = num_points
            self.total_points = num_heads * num_levels * num_points
            self.head_dim = embed_dim // num_heads
            self.sampling_offsets = nn.Linear(embed_dim, self.total_points * 2)
            self.attention_weights = nn.Linear(embed_dim, self.total_points)
            self.value_proj = nn.Linear(embed_dim, embed_dim)
            self.output_proj = nn.Linear(embed_dim, embed_dim)
            self.ms_deformable_attn_core = official.deformable_attention_core_func
            self._reset_parameters()

        def _reset_parameters(self):
            nn.init.constant_(self.sampling_offsets.weight, 0)
            thetas = torch.arange(self.num_heads, dtype=torch.float32) * (2.0 * math.pi / self.num_heads)
            grid_init = torch.stack([thetas.cos(), thetas.sin()], -1)
            grid_init = grid_init / grid_init.abs().max(-1, keepdim=True).values
            grid_init = grid_init.reshape(self.num_heads, 1, 1, 2).tile([1, self.num_levels, self.num_points, 1])
            scaling = torch.arange(1, self.num_points + 1, dtype=torch.float32).reshape(1, 1, -1, 1)
            grid_init *= scaling
            self.sampling_offsets.bias.data[...] = grid_init.flatten()
            nn.init.constant_(self.attention_weights.weight, 0)
            nn.init.constant_(self.attention_weights.bias, 0)
            nn.init.xavier_uniform_(self.value_proj.weight)
            nn.init.constant_(self.value_proj.bias, 0)
            nn.init.xavier_uniform_(self.output_proj.weight)
            nn.init.constant_(self.output_proj.bias, 0)

        def forward(self, query, reference_points, value, value_spatial_shapes, value_mask=None):
            bs, Len_q = query.shape[:2]
            Len_v = value.shape[1]
            value = self.value_proj(value)
            value = value.reshape(bs, Len_v, self.num_heads, self.head_dim)
            sampling_offsets = self.sampling_offsets(query).reshape(
                bs, Len_q, self.num_heads, self.num_levels, self.num_points, 2)
            attention_weights = self.attention_weights(query).reshape(
                bs, Len_q, self.num_heads, self.num_levels * self.num_points)
            attention_weights = F.softmax(attention_weights, dim=-1).reshape(
                bs, Len_q, self.num_heads, self.num_levels, self.num_points)
            assert reference_points.shape[-1] == 4
            sampling_locations = (reference_points[:, :, None, :, None, :2] + sampling_offsets / self.num_points
                                  * reference_points[:, :, None, :, None, 2:] * 0.5)
            output = self.ms_deformable_attn_core(value, value_spatial_shapes, sampling_locations, attention_weights)
            output = self.output_proj(output)
            return output

    @staticmethod
    def deformable_attention_core_func(value, value_spatial_shapes, sampling_locations, attention_weights):
        bs, _, n_head, c = value.shape
        _, Len_q, _, n_levels, n_points, _ = sampling_locations.shape
        split_shape = [h * w for h, w in value_spatial_shapes]
        value_list = value.split(split_shape, dim=1)
        sampling_grids = 2 * sampling_locations - 1
        sampling_value_list = []
        for level, (h, w) in enumerate(value_spatial_shapes):
            value_l_ = value_list[level].flatten(2).permute(0, 2, 1).reshape(bs * n_head, c, h, w)
            sampling_grid_l_ = sampling_grids[:, :, :, level].permute(0, 2, 1, 3, 4).flatten(0, 1)
            sampling_value_l_ = F.grid_sample(value_l_, sampling_grid_l_, mode="bilinear", padding_mode="zeros",
                                              align_corners=False)
            sampling_value_list.append(sampling_value_l_)
        attention_weights = attention_weights.permute(0, 2, 1, 3, 4).reshape(bs * n_head, 1, Len_q,
                                                                             n_levels * n_points)
        output = (torch.stack(sampling_value_list, dim=-2).flatten(-2) * attention_weights).sum(-1).reshape(
            bs, n_head * c, Len_q)
        return output.permute(0, 2, 1)

    class TransformerDecoderLayer(nn.Module):
        def __init__(self, d_model=256, n_head=8, dim_feedforward=1024, dropout=0.0, activation="relu", n_levels=4,
                     n_points=4):
            super().__init__()
            self.self_attn = nn.MultiheadAttention(d_model, n_head, dropout=dropout, batch_first=True)
            self.dropout1 = nn.Dropout(dropout)
            self.norm1 = nn.LayerNorm(d_model)
            self.cross_attn = official.MSDeformableAttention(d_model, n_head, n_levels, n_points)
            self.dropout2 = nn.Dropout(dropout)
            self.norm2 = nn.LayerNorm(d_model)
            self.linear1 = nn.Linear(d_model, dim_feedforward)
            self.activation = getattr(F, activation)
            self.dropout3 = nn.Dropout(dropout)
            self.linear2 = nn.Linear(dim_feedforward, d_model)
            self.dropout4 = nn.Dropout(dropout)
            self.norm3 = nn.LayerNorm(d_model)

        @staticmethod
        def with_pos_embed(tensor, pos):
            return tensor if pos is None else tensor + pos

        def forward_ffn(self, tgt):
            return self.linear2(self.dropout3(self.activation(self.linear1(tgt))))

        def forward(self, tgt, reference_points, memory, memory_spatial_shapes, memory_level_start_index,
                    attn_mask=None, memory_mask=None, query_pos_embed=None):
            q = k = self.with_pos_embed(tgt, query_pos_embed)
            tgt2, _ = self.self_attn(q, k, value=tgt, attn_mask=attn_mask)
            tgt = tgt + self.dropout1(tgt2)
            tgt = self.norm1(tgt)
            tgt2 = self.cross_attn(self.with_pos_embed(tgt, query_pos_embed), reference_points, memory,
                                   memory_spatial_shapes, memory_mask)
            tgt = tgt + self.dropout2(tgt2)
            tgt = self.norm2(tgt)
            tgt2 = self.forward_ffn(tgt)
            tgt = tgt + self.dropout4(tgt2)
            tgt = self.norm3(tgt)
            return tgt

    class TransformerDecoder(nn.Module):
        def __init__(self, hidden_dim, decoder_layer, num_layers, eval_idx=-1):
            super().__init__()
            self.layers = nn.ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
            self.hidden_dim = hidden_dim
            self.num_layers = num_layers
            self.eval_idx = eval_idx if eval_idx >= 0 else num_layers + eval_idx

        def forward(self, tgt, ref_points_unact, memory, memory_spatial_shapes, memory_level_start_index, bbox_head,
                    score_head, query_pos_head, attn_mask=None, memory_mask=None):
            output = tgt
            dec_out_bboxes = []
            dec_out_logits = []
            ref_points_detach = F.sigmoid(ref_points_unact)
            for i, layer in enumerate(self.layers):
                ref_points_input = ref_points_detach.unsqueeze(2)
                query_pos_embed = query_pos_head(ref_points_detach)
                output = layer(output, ref_points_input, memory, memory_spatial_shapes, memory_level_start_index,
                               attn_mask, memory_mask, query_pos_embed)
                inter_ref_bbox = F.sigmoid(bbox_head[i](output) + official.inverse_sigmoid(ref_points_detach))
                if i == self.eval_idx:  # eval / export path
                    dec_out_logits.append(score_head[i](output))
                    dec_out_bboxes.append(inter_ref_bbox)
                    break
                ref_points_detach = inter_ref_bbox
            return torch.stack(dec_out_bboxes), torch.stack(dec_out_logits)

    class RTDETRTransformer(nn.Module):
        def __init__(self, num_classes=80, hidden_dim=256, num_queries=300, feat_channels=(512, 1024, 2048),
                     feat_strides=(8, 16, 32), num_levels=3, num_decoder_points=4, nhead=8, num_decoder_layers=6,
                     dim_feedforward=1024, dropout=0.0, activation="relu", num_denoising=100,
                     learnt_init_query=False, eval_spatial_size=None, eval_idx=-1, eps=1e-2):
            super().__init__()
            self.hidden_dim = hidden_dim
            self.nhead = nhead
            self.feat_strides = list(feat_strides)
            self.num_levels = num_levels
            self.num_classes = num_classes
            self.num_queries = num_queries
            self.eps = eps
            self.num_decoder_layers = num_decoder_layers
            self.eval_spatial_size = eval_spatial_size
            self.input_proj = nn.ModuleList()
            for in_channels in feat_channels:
                self.input_proj.append(nn.Sequential(OrderedDict([
                    ("conv", nn.Conv2d(in_channels, self.hidden_dim, 1, bias=False)),
                    ("norm", nn.BatchNorm2d(self.hidden_dim)),
                ])))
            decoder_layer = official.TransformerDecoderLayer(hidden_dim, nhead, dim_feedforward, dropout, activation,
                                                             num_levels, num_decoder_points)
            self.decoder = official.TransformerDecoder(hidden_dim, decoder_layer, num_decoder_layers, eval_idx)
            self.denoising_class_embed = nn.Embedding(num_classes + 1, hidden_dim, padding_idx=num_classes)
            self.learnt_init_query = learnt_init_query
            self.query_pos_head = official.MLP(4, 2 * hidden_dim, hidden_dim, num_layers=2)
            self.enc_output = nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.LayerNorm(hidden_dim))
            self.enc_score_head = nn.Linear(hidden_dim, num_classes)
            self.enc_bbox_head = official.MLP(hidden_dim, hidden_dim, 4, num_layers=3)
            self.dec_score_head = nn.ModuleList([nn.Linear(hidden_dim, num_classes) for _ in range(num_decoder_layers)])
            self.dec_bbox_head = nn.ModuleList(
                [official.MLP(hidden_dim, hidden_dim, 4, num_layers=3) for _ in range(num_decoder_layers)])
            if self.eval_spatial_size:
                self.anchors, self.valid_mask = self._generate_anchors()
            self._reset_parameters()

        def _reset_parameters(self):
            bias = float(-math.log((1 - 0.01) / 0.01))  # bias_init_with_prob(0.01)
            nn.init.constant_(self.enc_score_head.bias, bias)
            nn.init.constant_(self.enc_bbox_head.layers[-1].weight, 0)
            nn.init.constant_(self.enc_bbox_head.layers[-1].bias, 0)
            for cls_, reg_ in zip(self.dec_score_head, self.dec_bbox_head):
                nn.init.constant_(cls_.bias, bias)
                nn.init.constant_(reg_.layers[-1].weight, 0)
                nn.init.constant_(reg_.layers[-1].bias, 0)
            nn.init.xavier_uniform_(self.enc_output[0].weight)
            nn.init.xavier_uniform_(self.query_pos_head.layers[0].weight)
            nn.init.xavier_uniform_(self.query_pos_head.layers[1].weight)

        def _get_encoder_input(self, feats):
            proj_feats = [self.input_proj[i](feat) for i, feat in enumerate(feats)]
            feat_flatten = []
            spatial_shapes = []
            level_start_index = [0]
            for i, feat in enumerate(proj_feats):
                _, _, h, w = feat.shape
                feat_flatten.append(feat.flatten(2).permute(0, 2, 1))
                spatial_shapes.append([h, w])
                level_start_index.append(h * w + level_start_index[-1])
            feat_flatten = torch.concat(feat_flatten, 1)
            level_start_index.pop()
            return feat_flatten, spatial_shapes, level_start_index

        def _generate_anchors(self, spatial_shapes=None, grid_size=0.05, dtype=torch.float32, device="cpu"):
            if spatial_shapes is None:
                spatial_shapes = [[int(self.eval_spatial_size[0] / s), int(self.eval_spatial_size[1] / s)]
                                  for s in self.feat_strides]
            anchors = []
            for lvl, (h, w) in enumerate(spatial_shapes):
                grid_y, grid_x = torch.meshgrid(torch.arange(end=h, dtype=dtype), torch.arange(end=w, dtype=dtype),
                                                indexing="ij")
                grid_xy = torch.stack([grid_x, grid_y], -1)
                valid_WH = torch.tensor([w, h]).to(dtype)
                grid_xy = (grid_xy.unsqueeze(0) + 0.5) / valid_WH
                wh = torch.ones_like(grid_xy) * grid_size * (2.0**lvl)
                anchors.append(torch.concat([grid_xy, wh], -1).reshape(-1, h * w, 4))
            anchors = torch.concat(anchors, 1).to(device)
            valid_mask = ((anchors > self.eps) * (anchors < 1 - self.eps)).all(-1, keepdim=True)
            anchors = torch.log(anchors / (1 - anchors))
            anchors = torch.where(valid_mask, anchors, torch.inf)
            return anchors, valid_mask

        def _get_decoder_input(self, memory, spatial_shapes):
            bs, _, _ = memory.shape
            if self.training or self.eval_spatial_size is None:
                anchors, valid_mask = self._generate_anchors(spatial_shapes, device=memory.device)
            else:
                anchors, valid_mask = self.anchors.to(memory.device), self.valid_mask.to(memory.device)
            memory = valid_mask.to(memory.dtype) * memory
            output_memory = self.enc_output(memory)
            enc_outputs_class = self.enc_score_head(output_memory)
            enc_outputs_coord_unact = self.enc_bbox_head(output_memory) + anchors
            _, topk_ind = torch.topk(enc_outputs_class.max(-1).values, self.num_queries, dim=1)
            reference_points_unact = enc_outputs_coord_unact.gather(
                dim=1, index=topk_ind.unsqueeze(-1).repeat(1, 1, enc_outputs_coord_unact.shape[-1]))
            enc_topk_bboxes = F.sigmoid(reference_points_unact)
            enc_topk_logits = enc_outputs_class.gather(
                dim=1, index=topk_ind.unsqueeze(-1).repeat(1, 1, enc_outputs_class.shape[-1]))
            target = output_memory.gather(dim=1, index=topk_ind.unsqueeze(-1).repeat(1, 1, output_memory.shape[-1]))
            target = target.detach()
            return target, reference_points_unact.detach(), enc_topk_bboxes, enc_topk_logits

        def forward(self, feats, targets=None):
            memory, spatial_shapes, level_start_index = self._get_encoder_input(feats)
            target, init_ref_points_unact, enc_topk_bboxes, enc_topk_logits = self._get_decoder_input(
                memory, spatial_shapes)
            out_bboxes, out_logits = self.decoder(
                target, init_ref_points_unact, memory, spatial_shapes, level_start_index, self.dec_bbox_head,
                self.dec_score_head, self.query_pos_head, attn_mask=None)
            return {"pred_logits": out_logits[-1], "pred_boxes": out_bboxes[-1]}

    class RTDETR(nn.Module):
        def __init__(self, backbone, encoder, decoder):
            super().__init__()
            self.backbone = backbone
            self.decoder = decoder
            self.encoder = encoder

        def forward(self, x, targets=None):
            x = self.backbone(x)
            x = self.encoder(x)
            x = self.decoder(x, targets)
            return x

        def deploy(self):
            self.eval()
            for m in self.modules():
                if hasattr(m, "convert_to_deploy"):
                    m.convert_to_deploy()
            return self

    @staticmethod
    def inverse_sigmoid(x, eps=1e-5):
        x = x.clip(min=0.0, max=1.0)
        return torch.log(x.clip(min=eps) / (1 - x).clip(min=eps))

    @staticmethod
    def box_cxcywh_to_xyxy(boxes):
        """torchvision.ops.box_convert(boxes, in_fmt='cxcywh', out_fmt='xyxy')."""
        cx, cy, w, h = boxes.unbind(-1)
        x1 = cx - 0.5 * w
        y1 = cy - 0.5 * h
        x2 = cx + 0.5 * w
        y2 = cy + 0.5 * h
        return torch.stack((x1, y1, x2, y2), dim=-1)

    class RTDETRPostProcessor(nn.Module):
        def __init__(self, num_classes=80, use_focal_loss=True, num_top_queries=300):
            super().__init__()
            self.use_focal_loss = use_focal_loss
            self.num_top_queries = num_top_queries
            self.num_classes = num_classes
            self.deploy_mode = False

        def forward(self, outputs, orig_target_sizes):
            logits, boxes = outputs["pred_logits"], outputs["pred_boxes"]
            bbox_pred = official.box_cxcywh_to_xyxy(boxes)
            bbox_pred *= orig_target_sizes.repeat(1, 2).unsqueeze(1)
            scores = F.sigmoid(logits)
            scores, index = torch.topk(scores.flatten(1), self.num_top_queries, axis=-1)
            labels = index % self.num_classes
            index = index // self.num_classes
            boxes = bbox_pred.gather(dim=1, index=index.unsqueeze(-1).repeat(1, 1, bbox_pred.shape[-1]))
            assert self.deploy_mode
            return labels, boxes, scores

        def deploy(self):
            self.eval()
            self.deploy_mode = True
            return self

    class Model(nn.Module):
        """tools/export_onnx.py wrapper: attributes `model` and `postprocessor`."""

        def __init__(self, model, postprocessor):
            super().__init__()
            self.model = model.deploy()
            self.postprocessor = postprocessor.deploy()

        def forward(self, images, orig_target_sizes):
            outputs = self.model(images)
            return self.postprocessor(outputs, orig_target_sizes)


def build_rtdetr_official():
    """r18vd config (rtdetr_r18vd_6x_coco.yml over rtdetr_r50vd.yml) at miniature widths."""
    seed_all(18)
    hidden, nq = 16, 30  # upstream 256, 300
    backbone = official.PResNet(depth=18, variant="d", return_idx=(1, 2, 3))
    encoder = official.HybridEncoder(
        in_channels=backbone.out_channels, feat_strides=(8, 16, 32), hidden_dim=hidden, nhead=8,
        dim_feedforward=32, dropout=0.0, enc_act="gelu", use_encoder_idx=(2,), num_encoder_layers=1,
        expansion=0.5, depth_mult=1.0, act="silu", eval_spatial_size=[IMGSZ, IMGSZ],
    )
    decoder = official.RTDETRTransformer(
        num_classes=NC, hidden_dim=hidden, num_queries=nq, feat_channels=(hidden,) * 3, feat_strides=(8, 16, 32),
        num_levels=3, num_decoder_points=4, nhead=8, num_decoder_layers=3, dim_feedforward=32,
        eval_spatial_size=[IMGSZ, IMGSZ], eval_idx=-1,
    )
    rtdetr = official.RTDETR(backbone, encoder, decoder)
    calibrate_bn(rtdetr, lambda m, im: m(im), 18)
    post = official.RTDETRPostProcessor(num_classes=NC, use_focal_loss=True, num_top_queries=nq)
    return official.Model(rtdetr, post).eval()
