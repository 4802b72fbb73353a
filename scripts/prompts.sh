#!/usr/bin/env bash
# Regenerates the default prompt set in configs/prompts/{zh,en}/ with
# espeak-ng and sox: 8 kHz mono G.711 mu-law WAV, trimmed of silence.
#   apt-get install espeak-ng sox && scripts/prompts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=configs/prompts
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() { # lang voice name text
  local lang=$1 voice=$2 name=$3 text=$4
  mkdir -p "$out/$lang"
  espeak-ng -v "$voice" -s 175 -w "$tmp/raw.wav" "$text"
  sox "$tmp/raw.wav" -r 8000 -c 1 -e mu-law "$out/$lang/$name.wav" \
    silence 1 0.05 1% reverse silence 1 0.05 1% reverse
}

zh=cmn
say zh $zh main "欢迎致电客户服务热线。查询话费请按1，业务咨询请按2，故障申告请按3，投诉请按4，人工服务请按0。"
say zh $zh fault "宽带故障请按1，手机故障请按2，固定电话故障请按3。"
say zh $zh complaint "话费投诉请按1，网络投诉请按2，服务投诉请按3，如您已联系媒体或监管部门，请按4。"
say zh $zh service_number "请输入业务号码，以井号键结束。使用来电号码，请直接按井号键。"
say zh $zh invalid_number "号码无效，请重新输入。"
say zh $zh invalid_key "输入有误。"
say zh $zh transfer "正在为您转接，请稍候。"
say zh $zh goodbye "感谢您的来电。您的工单编号是"
say zh $zh resolved "您的问题已记录，感谢来电，再见。"
zh_digits=(零 一 二 三 四 五 六 七 八 九)
for d in 0 1 2 3 4 5 6 7 8 9; do
  say zh $zh "digit_$d" "${zh_digits[$d]}"
done

en=en-us
say en $en main "Welcome to customer service. For bills, press 1. For products, press 2. To report a fault, press 3. For a complaint, press 4. For an agent, press 0."
say en $en fault "Broadband, press 1. Mobile, press 2. Fixed line, press 3."
say en $en complaint "Billing, press 1. Network, press 2. Service, press 3. If you have contacted the media or a regulator, press 4."
say en $en service_number "Please enter the service number, then the hash key. For the number you are calling from, press hash."
say en $en invalid_number "That number is not valid. Please try again."
say en $en invalid_key "Sorry, that key is not valid."
say en $en transfer "Transferring you now."
say en $en goodbye "Thank you for calling. Your work order number is"
say en $en resolved "Your request is recorded. Thank you for calling. Goodbye."
for d in 0 1 2 3 4 5 6 7 8 9; do
  say en $en "digit_$d" "$d"
done
du -sh "$out"/*
